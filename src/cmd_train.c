/* `mimic train`: train a student on teacher logits and/or labels. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

/* Inputs stored as uint8 (IDX images, '|u1' .npy) are raw 0..255 values. The library's
 * std_floor default (0.1) assumes inputs in [0, 1]; scaled to raw pixels that is 25.5, so
 * standardizing raw pixels behaves exactly like the usual "scale to [0,1], then
 * standardize" recipe. */
#define U8_FLOOR_FACTOR 255.0

static const char *const activation_names[] = {"relu", "sigmoid", "tanh", NULL};
static const int32_t activation_values[] = {MIMIC_ACT_RELU, MIMIC_ACT_SIGMOID, MIMIC_ACT_TANH};
static const char *const init_names[] = {"uniform", "he", NULL};
static const int32_t init_values[] = {MIMIC_INIT_UNIFORM, MIMIC_INIT_HE_GLOROT};
static const char *const loss_names[] = {"l2", "kd", "labels", NULL};
static const int32_t loss_values[] = {MIMIC_LOSS_L2, MIMIC_LOSS_KD, MIMIC_LOSS_LABELS};
static const char *const schedule_names[] = {"constant", "cosine", "step", NULL};
static const int32_t schedule_values[] = {MIMIC_SCHEDULE_CONSTANT, MIMIC_SCHEDULE_COSINE, MIMIC_SCHEDULE_STEP};
static const char *const optimizer_names[] = {"sgd", "adam", "adamw", NULL};
static const int32_t optimizer_values[] = {MIMIC_OPTIMIZER_SGD, MIMIC_OPTIMIZER_ADAM, MIMIC_OPTIMIZER_ADAMW};
static const char *const target_names[] = {"none", "center", "standardize", "auto", NULL};
static const int32_t target_values[] = {MIMIC_TARGET_NONE, MIMIC_TARGET_CENTER, MIMIC_TARGET_STANDARDIZE,
                                        MIMIC_TARGET_AUTO};

static const char *name_of(const char *const *names, const int32_t *values, int32_t v)
{
    for (size_t i = 0; names[i]; i++)
        if (values[i] == v)
            return names[i];
    return "?";
}

static const char *loss_title(int32_t loss)
{
    switch (loss) {
    case MIMIC_LOSS_L2: return "logit L2 loss";
    case MIMIC_LOSS_KD: return "distillation loss (T^2 KL)";
    default: return "cross-entropy";
    }
}

/* "HxW" (e.g. 28x28) into the options' image shape; 0 on success. */
static int parse_image(const char *cmd, const char *text, mimic_train_options *o)
{
    char *end;
    errno = 0;
    unsigned long long h = strtoull(text, &end, 10);
    if (errno == 0 && end != text && *text != '-' && *end == 'x' && end[1] && end[1] != '-') {
        const char *w_text = end + 1;
        unsigned long long w = strtoull(w_text, &end, 10);
        if (errno == 0 && end != w_text && *end == 0 && h > 0 && w > 0) {
            o->image_height = h;
            o->image_width = w;
            return 0;
        }
    }
    return cli_usage_error(cmd, "--image: expected HEIGHTxWIDTH in pixels (e.g. 28x28), got '%s'", text);
}

typedef struct train_args {
    const char *inputs, *logits, *labels, *vinputs, *vlogits, *vlabels;
    const char *out, *log, *plot, *checkpoint, *image;
    uint64_t hidden, bottleneck, n_classes, progress_every;
    int32_t activation;
    int32_t init;
    double std_floor;
    int quiet;
} train_args;

static int write_plot(const char *cmd, const train_args *a, const cli_progress *p, const mimic_train_options *o)
{
    char title[256], err[512];
    snprintf(title, sizeof title, "mimic train --loss %s: %s", name_of(loss_names, loss_values, o->loss), a->out);
    if (svg_write_curves(a->plot, title, loss_title(o->loss), p->rec, p->n_rec, err, sizeof err) != 0)
        return cli_error(cmd, "%s", err);
    return CLI_EXIT_OK;
}

static void print_summary(const train_args *a, const mimic_student *s, const mimic_train_report *r)
{
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    char arch[128];
    if (so.n_bottleneck)
        snprintf(arch, sizeof arch, "%zu-%zub-%zu-%zu", so.n_inputs, so.n_bottleneck, so.n_hidden, so.n_classes);
    else
        snprintf(arch, sizeof arch, "%zu-%zu-%zu", so.n_inputs, so.n_hidden, so.n_classes);
    fprintf(stderr, "saved %s: %s %s, %zu parameters; %llu epochs in %.1f s (%.0f ex/s), final loss %.5g",
            a->out, arch, name_of(activation_names, activation_values, so.activation), mimic_student_num_params(s),
            (unsigned long long)r->epochs_run, r->elapsed_s, r->examples_per_s, r->final_train_loss);
    if (isfinite(r->best_validation_loss))
        fprintf(stderr, "; weights of epoch %llu (best on validation)%s", (unsigned long long)r->best_epoch,
                r->stopped_early ? ", stopped early" : "");
    fprintf(stderr, "\n");
}

static int run(const char *cmd, train_args *a, mimic_train_options *o, cli_opt *opts, size_t n_opts)
{
    int rc;
    cli_data *train = NULL, *valid = NULL;
    mimic_student *s = NULL;
    cli_progress p;
    memset(&p, 0, sizeof p);

    if ((rc = cli_data_load(cmd, a->inputs, a->logits, a->labels, a->n_classes, &train)) != CLI_EXIT_OK)
        return rc;
    const mimic_dataset *td = cli_data_dataset(train);
    if ((o->flip > 0 || o->shift > 0) && !a->image) {
        cli_data_image_shape(train, &o->image_height, &o->image_width);
        if (!o->image_height) {
            rc = cli_usage_error(cmd, "%s needs --image HxW (the inputs' image shape; IDX image files give it)",
                                 o->flip > 0 ? "--flip" : "--shift");
            goto done;
        }
    }
    size_t C_ = mimic_dataset_n_classes(td);
    if (a->vinputs) {
        if ((rc = cli_data_load(cmd, a->vinputs, a->vlogits, a->vlabels, C_, &valid)) != CLI_EXIT_OK)
            goto done;
        const mimic_dataset *vd = cli_data_dataset(valid);
        if (mimic_dataset_n_inputs(vd) != mimic_dataset_n_inputs(td)) {
            rc = cli_error(cmd, "%s: %zu features per row, but %s has %zu", a->vinputs, mimic_dataset_n_inputs(vd),
                           a->inputs, mimic_dataset_n_inputs(td));
            goto done;
        }
        o->validation = vd;
    }
    if (!cli_seen(opts, n_opts, "--std-floor") && mimic_dataset_input_dtype(td) == MIMIC_DTYPE_U8)
        o->std_floor *= U8_FLOOR_FACTOR;

    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    so.n_inputs = mimic_dataset_n_inputs(td);
    so.n_hidden = (size_t)a->hidden;
    so.n_bottleneck = (size_t)a->bottleneck;
    so.n_classes = C_;
    so.activation = a->activation;
    so.init = a->init;
    so.seed = o->seed;
    int st = mimic_student_create(&s, &so);
    if (st != MIMIC_OK) {
        rc = cli_lib_error(cmd, "cannot create the student", st);
        goto done;
    }

    p.quiet = a->quiet;
    p.tty = isatty(STDERR_FILENO);
    p.epochs = o->epochs;
    p.batch = o->batch_size;
    p.loss = o->loss;
    p.temperature = o->temperature;
    p.hard_weight = o->hard_weight;
    if (a->log) {
        p.log = fopen(a->log, "w");
        if (!p.log) {
            rc = cli_error(cmd, "%s: cannot write the log: %s", a->log, strerror(errno));
            goto done;
        }
        cli_progress_log_header(&p);
    }
    o->progress = cli_progress_cb;
    o->progress_user_data = &p;
    /* Mid-epoch reports draw the bar and let Ctrl-C stop within an epoch. */
    o->progress_every_steps = a->progress_every ? a->progress_every : 10;

    mimic_train_report rep;
    mimic_train_report_init(&rep, sizeof rep);
    if (!a->quiet) {
        fprintf(stderr, "training %zu rows x %zu features -> %zu classes, loss %s, lr %g, %llu epochs of batch %llu\n",
                mimic_dataset_rows(td), so.n_inputs, C_, name_of(loss_names, loss_values, o->loss), o->learning_rate,
                (unsigned long long)o->epochs, (unsigned long long)o->batch_size);
    }
    cli_sigint_install();
    st = mimic_train(s, td, o, &rep);
    cli_sigint_restore();
    cli_progress_end(&p);

    if (a->plot && p.n_rec > 0 && (st == MIMIC_OK || st == MIMIC_ERR_CANCELLED)) {
        rc = write_plot(cmd, a, &p, o);
        if (rc != CLI_EXIT_OK)
            goto done;
    }
    if (p.log) {
        int bad = fclose(p.log) != 0 || p.io_error;
        p.log = NULL;
        if (bad) {
            rc = cli_error(cmd, "%s: writing the log failed", a->log);
            goto done;
        }
    }
    if (st == MIMIC_ERR_CANCELLED && cli_sigint_seen()) {
        fprintf(stderr, "mimic train: interrupted after %llu epochs; %s was not written%s\n",
                (unsigned long long)rep.epochs_run, a->out,
                a->checkpoint ? " (continue with --resume from the checkpoint)" : "");
        rc = CLI_EXIT_CANCELLED;
        goto done;
    }
    if (st != MIMIC_OK) {
        rc = cli_lib_error(cmd, "training failed", st);
        goto done;
    }
    st = mimic_student_save(s, a->out);
    if (st != MIMIC_OK) {
        rc = cli_lib_error(cmd, a->out, st);
        goto done;
    }
    if (!a->quiet)
        print_summary(a, s, &rep);
    rc = CLI_EXIT_OK;
done:
    if (p.log)
        fclose(p.log);
    cli_progress_free(&p);
    mimic_student_free(s);
    cli_data_free(valid);
    cli_data_free(train);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    train_args a;
    memset(&a, 0, sizeof a);
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    a.activation = MIMIC_ACT_RELU;
    a.init = MIMIC_INIT_UNIFORM;
    double lr = 0;

    char d_epochs[32], d_batch[32], d_mom[32], d_T[32], d_hw[32], d_wd[32], d_clip[32], d_warm[32], d_gamma[32],
        d_stepep[32], d_b1[32], d_b2[32], d_eps[32], d_floor[96], d_ckev[32];
    snprintf(d_epochs, sizeof d_epochs, "%llu", (unsigned long long)o.epochs);
    snprintf(d_batch, sizeof d_batch, "%llu", (unsigned long long)o.batch_size);
    snprintf(d_mom, sizeof d_mom, "%g", o.momentum);
    snprintf(d_T, sizeof d_T, "%g", o.temperature);
    snprintf(d_hw, sizeof d_hw, "%g", o.hard_weight);
    snprintf(d_wd, sizeof d_wd, "%g", o.weight_decay);
    snprintf(d_clip, sizeof d_clip, "%g (off)", o.clip_norm);
    snprintf(d_warm, sizeof d_warm, "%g", o.warmup_epochs);
    snprintf(d_gamma, sizeof d_gamma, "%g", o.step_gamma);
    snprintf(d_stepep, sizeof d_stepep, "%llu", (unsigned long long)o.step_epochs);
    snprintf(d_b1, sizeof d_b1, "%g", o.adam_beta1);
    snprintf(d_b2, sizeof d_b2, "%g", o.adam_beta2);
    snprintf(d_eps, sizeof d_eps, "%g", o.adam_eps);
    snprintf(d_floor, sizeof d_floor, "%g for float inputs, %g for uint8 inputs", o.std_floor,
             o.std_floor * U8_FLOOR_FACTOR);
    snprintf(d_ckev, sizeof d_ckev, "%llu", (unsigned long long)o.checkpoint_every);

    cli_opt opts[] = {
        {"--inputs", OPT_STR, &a.inputs, NULL, NULL, "FILE", "required",
         "training inputs: rows x features .npy (f32, f64, u8) or IDX images (.gz or plain)", 0},
        {"--logits", OPT_STR, &a.logits, NULL, NULL, "FILE", "required for --loss l2|kd",
         "teacher logits, rows x classes .npy", 0},
        {"--labels", OPT_STR, &a.labels, NULL, NULL, "FILE", "none",
         "labels: 1-D integer .npy or IDX labels", 0},
        {"--valid-inputs", OPT_STR, &a.vinputs, NULL, NULL, "FILE", "none", "validation inputs", 0},
        {"--valid-logits", OPT_STR, &a.vlogits, NULL, NULL, "FILE", "none", "validation teacher logits", 0},
        {"--valid-labels", OPT_STR, &a.vlabels, NULL, NULL, "FILE", "none", "validation labels", 0},
        {"--n-classes", OPT_POS_U64, &a.n_classes, NULL, NULL, "C", "logits' columns, else largest label + 1",
         "number of classes", 0},
        {"--hidden", OPT_POS_U64, &a.hidden, NULL, NULL, "H", "required", "hidden units", 0},
        {"--bottleneck", OPT_U64, &a.bottleneck, NULL, NULL, "K", "0 (none)", "linear bottleneck width", 0},
        {"--activation", OPT_CHOICE, &a.activation, activation_names, activation_values, NULL, "relu",
         "hidden activation", 0},
        {"--init", OPT_CHOICE, &a.init, init_names, init_values, NULL, "uniform",
         "weight init: uniform (PyTorch's nn.Linear default) or he (He/Glorot normal)", 0},
        {"--loss", OPT_CHOICE, &o.loss, loss_names, loss_values, NULL, "required",
         "l2: regression on teacher logits; kd: Hinton distillation; labels: hard labels", 0},
        {"--temperature", OPT_POS_DOUBLE, &o.temperature, NULL, NULL, "T", d_T, "distillation temperature", 0},
        {"--hard-weight", OPT_UNIT_DOUBLE, &o.hard_weight, NULL, NULL, "A", d_hw,
         "kd: weight of the hard-label loss, (1-A) soft + A hard", 0},
        {"--epochs", OPT_POS_U64, &o.epochs, NULL, NULL, "E", d_epochs, "training epochs", 0},
        {"--batch", OPT_POS_U64, &o.batch_size, NULL, NULL, "B", d_batch, "minibatch size", 0},
        {"--lr", OPT_POS_DOUBLE, &lr, NULL, NULL, "LR", "sgd: 0.05 labels/kd, 0.001 l2; adam/adamw: 0.001",
         "learning rate", 0},
        {"--optimizer", OPT_CHOICE, &o.optimizer, optimizer_names, optimizer_values, NULL, "adam", "optimizer", 0},
        {"--momentum", OPT_UNIT_DOUBLE, &o.momentum, NULL, NULL, "M", d_mom, "SGD momentum", 0},
        {"--nesterov", OPT_FLAG, &o.nesterov, NULL, NULL, NULL, "off", "Nesterov momentum", 0},
        {"--schedule", OPT_CHOICE, &o.schedule, schedule_names, schedule_values, NULL, "cosine",
         "learning-rate schedule", 0},
        {"--warmup", OPT_NONNEG_DOUBLE, &o.warmup_epochs, NULL, NULL, "E", d_warm, "linear warm-up, in epochs", 0},
        {"--step-gamma", OPT_POS_DOUBLE, &o.step_gamma, NULL, NULL, "G", d_gamma, "step schedule: factor", 0},
        {"--step-epochs", OPT_POS_U64, &o.step_epochs, NULL, NULL, "N", d_stepep, "step schedule: period in epochs",
         0},
        {"--adam-beta1", OPT_UNIT_DOUBLE, &o.adam_beta1, NULL, NULL, "B1", d_b1, "Adam beta1", 0},
        {"--adam-beta2", OPT_UNIT_DOUBLE, &o.adam_beta2, NULL, NULL, "B2", d_b2, "Adam beta2", 0},
        {"--adam-eps", OPT_POS_DOUBLE, &o.adam_eps, NULL, NULL, "EPS", d_eps, "Adam epsilon", 0},
        {"--weight-decay", OPT_NONNEG_DOUBLE, &o.weight_decay, NULL, NULL, "W", d_wd, "weight decay", 0},
        {"--dropout", OPT_UNIT_DOUBLE, &o.dropout, NULL, NULL, "P", "0 (off)",
         "dropout rate on the hidden units while training, in [0, 1)", 0},
        {"--image", OPT_STR, &a.image, NULL, NULL, "HxW", "none",
         "inputs are images of C x H x W values (channel-first), for --flip and --shift; IDX images: their shape", 0},
        {"--flip", OPT_UNIT_DOUBLE, &o.flip, NULL, NULL, "P", "0 (off)",
         "mirror each training image left-right with probability P (targets kept)", 0},
        {"--shift", OPT_U64, &o.shift, NULL, NULL, "N", "0 (off)",
         "shift each training image by up to N pixels in each direction (targets kept)", 0},
        {"--clip-norm", OPT_NONNEG_DOUBLE, &o.clip_norm, NULL, NULL, "C", d_clip, "global gradient-norm clip", 0},
        {"--target-norm", OPT_CHOICE, &o.target_norm, target_names, target_values, NULL,
         "auto (standardize for l2, none otherwise)",
         "l2: normalize the teacher logits while training (undone in the saved student)", 0},
        {"--standardize", OPT_FLAG, &o.standardize, NULL, NULL, NULL, "off",
         "fit per-feature mean/std on the training inputs and store them in the student", 0},
        {"--std-floor", OPT_POS_DOUBLE, &o.std_floor, NULL, NULL, "S", d_floor,
         "standardize: scale = 1/max(std, S), in input units", 0},
        {"--patience", OPT_U64, &o.patience, NULL, NULL, "P", "0 (off)",
         "stop after P epochs without validation improvement; keep the best weights", 0},
        {"--eval-train", OPT_FLAG, &o.eval_train, NULL, NULL, NULL, "off",
         "also compute training-set metrics after each epoch", 0},
        {"--seed", OPT_U64, &o.seed, NULL, NULL, "S", "0", "seed for weights and shuffling", 0},
        {"--threads", OPT_I32_POS, &o.threads, NULL, NULL, "N", "BLAS default", "BLAS threads", 0},
        {"--out", OPT_STR, &a.out, NULL, NULL, "FILE", "required", "where to save the student (.safetensors)", 0},
        {"--log", OPT_STR, &a.log, NULL, NULL, "FILE", "none", "CSV with one row per epoch", 0},
        {"--plot", OPT_STR, &a.plot, NULL, NULL, "FILE", "none", "SVG of the loss and accuracy curves", 0},
        {"--checkpoint", OPT_STR, &a.checkpoint, NULL, NULL, "FILE", "none", "checkpoint file", 0},
        {"--checkpoint-every", OPT_POS_U64, &o.checkpoint_every, NULL, NULL, "N", d_ckev,
         "epochs between checkpoints", 0},
        {"--resume", OPT_FLAG, &o.resume, NULL, NULL, NULL, "off", "resume from --checkpoint if it exists", 0},
        {"--progress-every", OPT_POS_U64, &a.progress_every, NULL, NULL, "N", "10",
         "steps between progress-bar updates", 0},
        {"--quiet", OPT_FLAG, &a.quiet, NULL, NULL, NULL, "off", "print nothing but errors", 0},
    };
    size_t n_opts = sizeof opts / sizeof opts[0];
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, n_opts,
                       "--inputs X [--logits Z] [--labels Y] --hidden H --loss l2|kd|labels --out FILE [options]",
                       "Train a shallow student: logit regression on a teacher's logits (l2, the mimic-learning "
                       "paper),\nHinton distillation (kd) or plain hard labels (labels). Inputs are .npy or IDX "
                       "files.\nCtrl-C stops training, leaves --out untouched and exits with status 130.",
                       &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    const char *required[] = {"--inputs", "--hidden", "--loss", "--out"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if ((rc = cli_require(cmd, opts, n_opts, required[i])) != CLI_EXIT_OK)
            return rc;
    if ((o.loss == MIMIC_LOSS_L2 || o.loss == MIMIC_LOSS_KD) && !a.logits)
        return cli_usage_error(cmd, "--loss %s needs --logits", name_of(loss_names, loss_values, o.loss));
    if (o.loss == MIMIC_LOSS_LABELS && !a.labels)
        return cli_usage_error(cmd, "--loss labels needs --labels");
    if (o.loss == MIMIC_LOSS_KD && o.hard_weight > 0 && !a.labels)
        return cli_usage_error(cmd, "--hard-weight > 0 needs --labels");
    if ((a.vlogits || a.vlabels) && !a.vinputs)
        return cli_usage_error(cmd, "--valid-logits and --valid-labels need --valid-inputs");
    if (a.vinputs && !a.vlogits && !a.vlabels)
        return cli_usage_error(cmd, "--valid-inputs needs --valid-logits or --valid-labels");
    if (a.vinputs && o.loss != MIMIC_LOSS_LABELS && !a.vlogits)
        return cli_usage_error(cmd, "--loss %s with --valid-inputs needs --valid-logits",
                               name_of(loss_names, loss_values, o.loss));
    if (a.vinputs && o.loss == MIMIC_LOSS_LABELS && !a.vlabels)
        return cli_usage_error(cmd, "--loss labels with --valid-inputs needs --valid-labels");
    if (o.patience && !a.vinputs)
        return cli_usage_error(cmd, "--patience needs validation data (--valid-inputs)");
    if ((o.resume || cli_seen(opts, n_opts, "--checkpoint-every")) && !a.checkpoint)
        return cli_usage_error(cmd, "%s needs --checkpoint", o.resume ? "--resume" : "--checkpoint-every");
    if (a.image && parse_image(cmd, a.image, &o) != 0)
        return CLI_EXIT_USAGE;
    if (a.n_classes == 1)
        return cli_usage_error(cmd, "--n-classes: expected at least 2, got 1");
    /* Resolved here (not left 0 for the library) so the header line shows the rate. */
    o.learning_rate = cli_seen(opts, n_opts, "--lr") ? lr : mimic_train_default_learning_rate(o.optimizer, o.loss);
    o.checkpoint_path = a.checkpoint;
    return run(cmd, &a, &o, opts, n_opts);
}
