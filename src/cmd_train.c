/* `mimic train`: train a student on teacher logits and/or labels.
 *
 * The training and student options are the library's (include/mimic/options.h): their flags,
 * checks and help come from its tables. This file adds the files, --image, --quiet, and the
 * tool's policies (a uint8-aware --std-floor default, progress every 10 steps). */
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
/* Mid-epoch reports draw the progress bar and let Ctrl-C stop within an epoch. */
#define PROGRESS_EVERY 10

typedef struct train_args {
    cli_source train, valid; /* --inputs/--logits/--labels/--manifest and --valid-* */
    const char *out, *log, *plot, *image;
    uint64_t n_classes;
    int quiet;
} train_args;

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
    return cli_usage_error(cmd, "--image: expected HEIGHTxWIDTH in pixels (e.g. 28x28), got '%s'",
                           text);
}

static int write_plot(const char *cmd, const train_args *a, const cli_progress *p,
                      const mimic_train_options *o)
{
    char title[256], axis[96], err[512];
    snprintf(title, sizeof title, "mimic train --loss %s: %s", cli_choice_name(0, "loss", o->loss),
             a->out);
    snprintf(axis, sizeof axis, "loss (validation: %s)", mimic_train_criterion(o->loss));
    if (svg_write_curves(a->plot, title, axis, p->rec, p->n_rec, err, sizeof err) != 0)
        return cli_error(cmd, "%s", err);
    return CLI_EXIT_OK;
}

static void print_summary(const train_args *a, const mimic_student *s, const mimic_train_options *o,
                          const mimic_train_report *r)
{
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    char arch[128];
    if (so.n_bottleneck)
        snprintf(arch, sizeof arch, "%zu-%zub-%zu-%zu", so.n_inputs, so.n_bottleneck, so.n_hidden,
                 so.n_classes);
    else
        snprintf(arch, sizeof arch, "%zu-%zu-%zu", so.n_inputs, so.n_hidden, so.n_classes);
    fprintf(stderr,
            "saved %s: %s %s, %zu parameters; %llu epochs in %.1f s (%.0f ex/s), final loss %.5g",
            a->out, arch, cli_choice_name(1, "activation", so.activation),
            mimic_student_num_params(s), (unsigned long long)r->epochs_run, r->elapsed_s,
            r->examples_per_s, r->final_train_loss);
    if (isfinite(r->best_validation_loss)) {
        if (o->patience > 0)
            fprintf(stderr, "; weights of epoch %llu, the best on validation (%s %.5g)%s",
                    (unsigned long long)r->best_epoch, mimic_train_criterion(o->loss),
                    r->best_validation_loss, r->stopped_early ? ", stopped early" : "");
        else
            fprintf(stderr, "; weights of the last epoch, %llu (without --patience)",
                    (unsigned long long)r->best_epoch);
    }
    fprintf(stderr, "\n");
}

static int has_source(const cli_source *src)
{
    return src->inputs || src->manifest;
}

/* A manifest's data against what the loss reads (for files the flags say it, checked before
 * loading). */
static int check_manifest_data(const char *cmd, const mimic_train_options *o,
                               const mimic_dataset *d, const char *manifest, int validation)
{
    int32_t need_logits = 0, need_labels = 0, valid_labels = 0;
    if (!manifest || mimic_train_data_needs(o, &need_logits, &need_labels, &valid_labels))
        return CLI_EXIT_OK;
    const char *loss = cli_choice_name(0, "loss", o->loss);
    if (need_logits && !mimic_dataset_has_logits(d))
        return cli_error(cmd, "%s: --loss %s needs teacher logits, and the manifest's shards have "
                              "none",
                         manifest, loss);
    if ((validation ? valid_labels : need_labels) && !mimic_dataset_has_labels(d))
        return cli_error(cmd, "%s: --loss %s%s needs labels, and the manifest's shards have none",
                         manifest, loss, validation || valid_labels ? "" : " with --hard-weight > 0");
    return CLI_EXIT_OK;
}

/* What a run holds until it ends. */
typedef struct train_run {
    cli_data *train, *valid;
    mimic_student *s;
    cli_progress p;
} train_run;

static void release(train_run *r)
{
    if (r->p.log)
        fclose(r->p.log);
    cli_progress_free(&r->p);
    mimic_student_free(r->s);
    cli_data_free(r->valid);
    cli_data_free(r->train);
}

/* Everything before training: the data, the student, the progress display and the log (on
 * rank 0: it alone prints and writes files). */
static int prepare(const char *cmd, train_args *a, mimic_train_options *o,
                   mimic_student_options *so, const cli_opt *opts, size_t n_opts, cli_dist *d,
                   train_run *r)
{
    int rc;
    if ((rc = cli_data_load(cmd, &a->train, a->n_classes, &r->train)) != CLI_EXIT_OK)
        return rc;
    const mimic_dataset *td = cli_data_dataset(r->train);
    if ((rc = check_manifest_data(cmd, o, td, a->train.manifest, 0)) != CLI_EXIT_OK)
        return rc;
    if ((o->flip > 0 || o->shift > 0) && !a->image) {
        cli_data_image_shape(r->train, &o->image_height, &o->image_width);
        if (!o->image_height)
            return cli_usage_error(cmd,
                                   "%s needs --image HxW (the inputs' image shape; IDX image "
                                   "files and .npy arrays of shape (n, H, W) give it)",
                                   o->flip > 0 ? "--flip" : "--shift");
    }
    size_t C_ = mimic_dataset_n_classes(td);
    if (has_source(&a->valid)) {
        if ((rc = cli_data_load(cmd, &a->valid, C_, &r->valid)) != CLI_EXIT_OK)
            return rc;
        const mimic_dataset *vd = cli_data_dataset(r->valid);
        if ((rc = check_manifest_data(cmd, o, vd, a->valid.manifest, 1)) != CLI_EXIT_OK)
            return rc;
        if (mimic_dataset_n_inputs(vd) != mimic_dataset_n_inputs(td))
            return cli_error(cmd, "%s: %zu features per row, but %s has %zu",
                             cli_source_name(&a->valid), mimic_dataset_n_inputs(vd),
                             cli_source_name(&a->train), mimic_dataset_n_inputs(td));
        o->validation = vd;
    }
    if (!cli_seen(opts, n_opts, "--std-floor") && mimic_dataset_input_dtype(td) == MIMIC_DTYPE_U8)
        o->std_floor *= U8_FLOOR_FACTOR;

    so->n_inputs = mimic_dataset_n_inputs(td);
    so->n_classes = C_;
    so->seed = o->seed;
    int st = mimic_student_create(&r->s, so);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, "cannot create the student", st);

    cli_progress *p = &r->p;
    p->quiet = a->quiet || d->rank != 0;
    p->tty = isatty(STDERR_FILENO);
    p->epochs = o->epochs;
    p->batch = o->batch_size;
    p->criterion = mimic_train_criterion(o->loss);
    if (a->log && d->rank == 0) {
        p->log = fopen(a->log, "w");
        if (!p->log)
            return cli_error(cmd, "%s: cannot write the log: %s", a->log, strerror(errno));
        cli_progress_log_header(p);
    }
    o->progress = cli_progress_cb;
    o->progress_user_data = p;
    if (d->active)
        o->collective = &d->coll;
    return CLI_EXIT_OK;
}

/* Training and what follows it: the plot, the log, the student (rank 0 writes them). Every
 * rank ends with the same exit status. */
static int train(const char *cmd, train_args *a, mimic_train_options *o, cli_dist *d, train_run *r)
{
    const mimic_dataset *td = cli_data_dataset(r->train);
    cli_progress *p = &r->p;
    mimic_train_report rep;
    mimic_train_report_init(&rep, sizeof rep);
    if (!a->quiet && d->rank == 0) {
        double lr = o->learning_rate > 0 ? o->learning_rate
                                         : mimic_train_default_learning_rate(o->optimizer, o->loss);
        fprintf(stderr,
                "training %zu rows x %zu features -> %zu classes, loss %s, %s at lr %g, %llu "
                "epochs of batch %llu",
                mimic_dataset_rows(td), mimic_dataset_n_inputs(td), mimic_dataset_n_classes(td),
                cli_choice_name(0, "loss", o->loss), cli_choice_name(0, "optimizer", o->optimizer),
                lr, (unsigned long long)o->epochs, (unsigned long long)o->batch_size);
        if (d->active)
            fprintf(stderr, " on %d rank%s (each reads 1/%d of every batch)", d->size,
                    d->size == 1 ? "" : "s", d->size);
        fprintf(stderr, "\n");
    }
    cli_set_blas_threads((uint64_t)o->threads); /* the library's own threads: o->threads */
    cli_sigint_install();
    int st = mimic_train(r->s, td, o, &rep); /* with a collective: the same st on every rank */
    cli_sigint_restore();
    cli_progress_end(p);

    int rc = CLI_EXIT_OK;
    if (d->rank == 0 && a->plot && p->n_rec > 0 && (st == MIMIC_OK || st == MIMIC_ERR_CANCELLED))
        rc = write_plot(cmd, a, p, o);
    if (rc == CLI_EXIT_OK && p->log) {
        int bad = fclose(p->log) != 0 || p->io_error;
        p->log = NULL;
        if (bad)
            rc = cli_error(cmd, "%s: writing the log failed", a->log);
    }
    if ((rc = cli_dist_agree(cmd, d, rc)) != CLI_EXIT_OK)
        return rc;
    /* Ctrl-C: one process sees it; under mpirun a rank's callback saw it (it is the tool's
     * only way to cancel) */
    if (st == MIMIC_ERR_CANCELLED && (cli_sigint_seen() || d->active)) {
        if (d->rank == 0)
            fprintf(stderr, "mimic train: interrupted after %llu epochs; %s was not written%s\n",
                    (unsigned long long)rep.epochs_run, a->out,
                    o->checkpoint_path ? " (continue with --resume from the checkpoint)" : "");
        return CLI_EXIT_CANCELLED;
    }
    if (st != MIMIC_OK)
        return cli_dist_report(cmd, d, cli_lib_error(cmd, "training failed", st));
    if (d->rank == 0) {
        st = mimic_student_save(r->s, a->out);
        if (st != MIMIC_OK)
            rc = cli_lib_error(cmd, NULL, st);
        else if (!a->quiet)
            print_summary(a, r->s, o, &rep);
    }
    return cli_dist_agree(cmd, d, rc);
}

static int run(const char *cmd, train_args *a, mimic_train_options *o, mimic_student_options *so,
               const cli_opt *opts, size_t n_opts, cli_dist *d)
{
    train_run r;
    memset(&r, 0, sizeof r);
    int rc = prepare(cmd, a, o, so, opts, n_opts, d, &r);
    /* a rank that cannot read its data or make its student stops every rank, named */
    rc = cli_dist_agree(cmd, d, rc);
    if (rc == CLI_EXIT_OK)
        rc = train(cmd, a, o, d, &r);
    release(&r);
    return rc;
}

/* The checks between flags that the library cannot make (it sees values, not flags). */
static int check_flags(const char *cmd, const train_args *a, const mimic_train_options *o,
                       const cli_opt *opts, size_t n_opts, int check_outputs)
{
    static const char *const required[] = {"--hidden", "--loss", "--out"};
    int rc;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if ((rc = cli_require(cmd, opts, n_opts, required[i])) != CLI_EXIT_OK)
            return rc;
    const cli_source *t = &a->train, *v = &a->valid;
    if (!t->inputs && !t->manifest)
        return cli_usage_error(cmd, "missing required option --inputs (or --manifest)");
    if (t->manifest && (t->inputs || t->logits || t->labels))
        return cli_usage_error(cmd, "--manifest names the training files: drop --%s",
                               t->inputs ? "inputs" : t->logits ? "logits" : "labels");
    if (v->manifest && (v->inputs || v->logits || v->labels))
        return cli_usage_error(cmd, "--valid-manifest names the validation files: drop --valid-%s",
                               v->inputs ? "inputs" : v->logits ? "logits" : "labels");
    /* a flag whose value the other options ignore is a mistake, not a no-op */
    char text[1024];
    for (size_t i = 0; i < n_opts; i++) {
        if (!opts[i].seen || opts[i].kind != OPT_TRAIN)
            continue;
        mimic_option_info info;
        info.struct_size = sizeof info;
        mimic_train_option_info(opts[i].index, &info);
        if (mimic_train_option_check_used(o, info.name) != MIMIC_OK)
            return cli_usage_error(cmd, "%s", cli_translate(mimic_last_error(), text, sizeof text));
    }
    if (a->image && mimic_train_option_check_used(o, "image_height") != MIMIC_OK)
        return cli_usage_error(cmd, "%s", cli_translate(mimic_last_error(), text, sizeof text));
    /* the files the loss reads, from the library */
    const char *loss = cli_choice_name(0, "loss", o->loss);
    int32_t need_logits = 0, need_labels = 0, valid_labels = 0;
    if (mimic_train_data_needs(o, &need_logits, &need_labels, &valid_labels) != MIMIC_OK)
        return cli_usage_error(cmd, "%s", cli_translate(mimic_last_error(), text, sizeof text));
    if (!t->manifest && need_logits && !t->logits)
        return cli_usage_error(cmd, "--loss %s needs --logits", loss);
    if (!t->manifest && need_labels && !t->labels)
        return cli_usage_error(cmd, "--loss %s%s needs --labels", loss,
                               valid_labels ? "" : " with --hard-weight > 0");
    if ((v->logits || v->labels) && !v->inputs)
        return cli_usage_error(cmd, "--valid-logits and --valid-labels need --valid-inputs");
    if (v->inputs && !v->logits && !v->labels)
        return cli_usage_error(cmd, "--valid-inputs needs --valid-logits or --valid-labels");
    if (v->inputs && need_logits && !v->logits)
        return cli_usage_error(cmd, "--loss %s with --valid-inputs needs --valid-logits", loss);
    if (v->inputs && valid_labels && !v->labels)
        return cli_usage_error(cmd, "--loss %s with --valid-inputs needs --valid-labels", loss);
    if (o->patience && !has_source(v))
        return cli_usage_error(cmd,
                               "--patience needs validation data (--valid-inputs or "
                               "--valid-manifest)");
    if (o->resume && !o->checkpoint_path)
        return cli_usage_error(cmd, "--resume needs --checkpoint");
    if (a->n_classes == 1)
        return cli_usage_error(cmd, "--n-classes: expected at least 2, got 1");
    /* every output is checked before the data is read and the first epoch runs (by the rank
     * that writes them: rank 0 under mpirun) */
    if (!check_outputs)
        return CLI_EXIT_OK;
    const char *const inputs[] = {t->inputs, t->logits, t->labels, t->manifest,
                                  v->inputs, v->logits, v->labels, v->manifest};
    const char *const outputs[][2] = {{"--out", a->out},
                                      {"--log", a->log},
                                      {"--plot", a->plot},
                                      {"--checkpoint", o->checkpoint_path}};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        if (outputs[i][1] && (rc = cli_check_output(cmd, outputs[i][0], outputs[i][1], inputs,
                                                    sizeof inputs / sizeof inputs[0])) != 0)
            return rc;
    return CLI_EXIT_OK;
}

/* "required for --loss l2|kd" from mimic_train_data_needs over the loss choices (logits = 1:
 * the teacher logits; 0: the labels, with "--hard-weight" where only the weight needs them). */
static void needs_text(char *buf, size_t cap, int logits)
{
    size_t idx, len = 0;
    const char *name;
    int32_t v;
    char always[64] = "", weighted[64] = "";
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    for (size_t k = 0; mimic_train_option_find("loss", &idx) == MIMIC_OK &&
                       mimic_train_option_choice(idx, k, &name, &v) == MIMIC_OK;
         k++) {
        int32_t zl = 0, yl = 0, vy = 0;
        o.loss = v;
        o.hard_weight = 0;
        if (mimic_train_data_needs(&o, &zl, &yl, &vy) != MIMIC_OK)
            continue;
        char *dst = NULL;
        if (logits ? zl : yl)
            dst = always;
        else if (!logits) {
            o.hard_weight = 0.5;
            if (mimic_train_data_needs(&o, &zl, &yl, &vy) == MIMIC_OK && yl)
                dst = weighted;
        }
        if (dst)
            snprintf(dst + strlen(dst), sizeof always - strlen(dst), "%s%s", *dst ? "|" : "",
                     name);
    }
    len += (size_t)snprintf(buf, cap, "%s%s", *always ? "required for --loss " : "", always);
    if (*weighted && len < cap)
        snprintf(buf + len, cap - len, "%s--loss %s with --hard-weight > 0", *always ? "; " : "",
                 weighted);
    if (!*always && !*weighted)
        snprintf(buf, cap, "none");
}

static int parse_and_run(const char *cmd, int argc, char **argv, cli_dist *d)
{
    train_args a;
    memset(&a, 0, sizeof a);
    mimic_train_options o;
    mimic_train_options_init(&o, sizeof o);
    o.progress_every_steps = PROGRESS_EVERY;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);

    /* which losses read which files, from the library */
    char logits_default[96], labels_default[96];
    needs_text(logits_default, sizeof logits_default, 1);
    needs_text(labels_default, sizeof labels_default, 0);
    const cli_opt own[] = {
        {"--inputs", OPT_STR, &a.train.inputs, "FILE", "required (or --manifest)",
         "training inputs: rows x features .npy (f32, f64, u8) or IDX images (.gz or plain)", 0, 0},
        {"--logits", OPT_STR, &a.train.logits, "FILE", logits_default,
         "teacher logits, rows x classes .npy (f32, f16, f64)", 0, 0},
        {"--labels", OPT_STR, &a.train.labels, "FILE", labels_default,
         "labels: 1-D integer .npy or IDX labels", 0, 0},
        {"--manifest", OPT_STR, &a.train.manifest, "FILE", "none",
         "training set in shards: a manifest (JSON) listing each shard's inputs, logits and "
         "labels files, instead of --inputs/--logits/--labels",
         0, 0},
        {"--valid-inputs", OPT_STR, &a.valid.inputs, "FILE", "none", "validation inputs", 0, 0},
        {"--valid-logits", OPT_STR, &a.valid.logits, "FILE", "none", "validation teacher logits",
         0, 0},
        {"--valid-labels", OPT_STR, &a.valid.labels, "FILE", "none", "validation labels", 0, 0},
        {"--valid-manifest", OPT_STR, &a.valid.manifest, "FILE", "none",
         "validation set in shards (a manifest), instead of --valid-inputs/-logits/-labels", 0, 0},
        {"--n-classes", OPT_POS_U64, &a.n_classes, "C", "logits' columns, else largest label + 1",
         "number of classes", 0, 0},
        {"--image", OPT_STR, &a.image, "HxW", "none (IDX images: their shape)",
         "inputs are images of C x H x W values (channel-first), for --flip and --shift", 0, 0},
        {"--out", OPT_STR, &a.out, "FILE", "required", "where to save the student (.safetensors)",
         0, 0},
        {"--log", OPT_STR, &a.log, "FILE", "none", "CSV with one row per epoch", 0, 0},
        {"--plot", OPT_STR, &a.plot, "FILE", "none", "SVG of the loss and accuracy curves", 0, 0},
        {"--quiet", OPT_FLAG, &a.quiet, NULL, "off", "print nothing but errors", 0, 0},
    };
    const size_t n_own = sizeof own / sizeof own[0];
    const size_t cap = n_own + mimic_student_option_count() + mimic_train_option_count();
    cli_opt *opts = calloc(cap, sizeof *opts);
    if (!opts)
        return cli_dist_agree(cmd, d, cli_error(cmd, "out of memory"));
    memcpy(opts, own, sizeof own);
    size_t n_opts = n_own;
    n_opts += cli_student_opts(opts + n_opts, cap - n_opts, &so);
    n_opts += cli_train_opts(opts + n_opts, cap - n_opts, &o);
    /* the tool's defaults where they differ from the library's */
    char floor_default[96];
    snprintf(floor_default, sizeof floor_default, "%g for float inputs, %g for uint8 inputs",
             o.std_floor, o.std_floor * U8_FLOOR_FACTOR);
    cli_opt *f = (cli_opt *)cli_find(opts, n_opts, "--std-floor");
    if (f)
        f->def = floor_default;
    f = (cli_opt *)cli_find(opts, n_opts, "--loss");
    if (f)
        f->def = "required";

    char usage[256], losses[96] = "";
    for (int32_t k = 0, v; k < 16; k++) {
        const char *name;
        size_t i;
        if (mimic_train_option_find("loss", &i) != MIMIC_OK ||
            mimic_train_option_choice(i, (size_t)k, &name, &v) != MIMIC_OK)
            break;
        snprintf(losses + strlen(losses), sizeof losses - strlen(losses), "%s%s", k ? "|" : "",
                 name);
    }
    snprintf(usage, sizeof usage,
             "(--inputs X [--logits Z] [--labels Y] | --manifest M) --hidden H --loss %s --out "
             "FILE [options]",
             losses);
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, n_opts, usage,
                       "Train a shallow student from a teacher's logits or from labels, as --loss "
                       "chooses (e.g. l2,\nlogit regression as in the mimic-learning paper; kd, "
                       "Hinton distillation). Inputs are .npy or IDX files, or shards a manifest "
                       "lists.\nCtrl-C stops training, leaves "
                       "--out untouched and exits with status 130.",
                       &help);
    if (rc == CLI_EXIT_OK && !help && a.image && parse_image(cmd, a.image, &o) != 0)
        rc = CLI_EXIT_USAGE;
    if (rc == CLI_EXIT_OK && !help)
        rc = check_flags(cmd, &a, &o, opts, n_opts, d->rank == 0);
    rc = cli_dist_agree(cmd, d, rc);
    if (rc == CLI_EXIT_OK && !help)
        rc = run(cmd, &a, &o, &so, opts, n_opts, d);
    free(opts);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    cli_dist d;
    int rc = cli_dist_begin(cmd, &d);
    if (rc == CLI_EXIT_OK)
        rc = parse_and_run(cmd, argc, argv, &d);
    cli_dist_end(&d);
    return rc;
}
