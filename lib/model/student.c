/*
 * The student handle: options (one table, below), creation and initialization, copies, and
 * the named tensors (one table for save, load, the getters and the ONNX export). The
 * kernels are in kernels.c, the files in student_io.c and student_onnx.c.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "model/model.h"

/* ---- options: the table ------------------------------------------------------------------ */

static const char *activation_choice(size_t k, int32_t *v)
{
    static const struct {
        const char *name;
        int32_t value;
    } acts[] = {{"relu", MIMIC_ACT_RELU}, {"sigmoid", MIMIC_ACT_SIGMOID}, {"tanh", MIMIC_ACT_TANH}};
    if (k >= MIMIC__ARRAY_LEN(acts))
        return NULL;
    *v = acts[k].value;
    return acts[k].name;
}

static const char *init_choice(size_t k, int32_t *v)
{
    static const struct {
        const char *name;
        int32_t value;
    } inits[] = {{"uniform", MIMIC_INIT_UNIFORM}, {"he", MIMIC_INIT_HE_GLOROT}};
    if (k >= MIMIC__ARRAY_LEN(inits))
        return NULL;
    *v = inits[k].value;
    return inits[k].name;
}

const char *mimic__activation_name(int32_t act)
{
    int32_t v;
    const char *name;
    for (size_t k = 0; (name = activation_choice(k, &v)) != NULL; k++)
        if (v == act)
            return name;
    return NULL;
}

int32_t mimic__activation_lookup(const char *name)
{
    int32_t v;
    const char *n;
    for (size_t k = 0; (n = activation_choice(k, &v)) != NULL; k++)
        if (strcmp(n, name) == 0)
            return v;
    return 0;
}

#define SOPT(field, type_) \
    .name = #field, .type = MIMIC_OPTION_##type_, \
    .offset = offsetof(mimic_student_options, field), \
    .size = sizeof(((mimic_student_options *)0)->field)

static const mimic__opt student_opts[] = {
    {SOPT(n_inputs, SIZE), MIMIC__GE(1), .help = "D: values per input row (from the data)"},
    {SOPT(n_hidden, SIZE), MIMIC__GE(1), .flag = "--hidden", .metavar = "H",
     .help = "hidden units", .default_text = "required"},
    {SOPT(n_bottleneck, SIZE), MIMIC__GE(0), .flag = "--bottleneck", .metavar = "K",
     .help = "width of the linear bottleneck before the hidden layer", .default_text = "0 (none)"},
    {SOPT(n_classes, SIZE), MIMIC__GE(2), .help = "C: logits per row (from the data)"},
    {SOPT(activation, ENUM), .def = MIMIC_ACT_RELU, MIMIC__ANY, .flag = "--activation",
     .help = "hidden activation", .choice = activation_choice, .enum_prefix = "MIMIC_ACT_"},
    {SOPT(seed, UINT64), MIMIC__GE(0), .help = "weight initialization seed"},
    {SOPT(init, ENUM), .def = MIMIC_INIT_UNIFORM, MIMIC__ANY, .flag = "--init",
     .help = "weight init: uniform (PyTorch's nn.Linear default) or he (He/Glorot normal)",
     .choice = init_choice, .enum_prefix = "MIMIC_INIT_"},
};

static const mimic__opt_group student_group = {"student", student_opts,
                                               MIMIC__ARRAY_LEN(student_opts)};
static const mimic__opt_group *const student_groups[] = {&student_group};
static const mimic__optable student_table = {"student_options", student_groups, 1};

void mimic_student_options_init(mimic_student_options *opts, size_t struct_size)
{
    mimic_student_options d;
    mimic__opt_defaults(&student_table, &d, sizeof d);
    mimic__struct_copy_out(opts, struct_size, &d, sizeof d);
}

size_t mimic_student_options_size(void)
{
    return sizeof(mimic_student_options);
}

size_t mimic_student_option_count(void)
{
    return mimic__opt_count(&student_table);
}

int mimic_student_option_info(size_t index, mimic_option_info *out)
{
    return mimic__opt_info(&student_table, index, out);
}

int mimic_student_option_choice(size_t index, size_t k, const char **name, int32_t *value)
{
    return mimic__opt_choice(&student_table, index, k, name, value);
}

int mimic_student_option_find(const char *name, size_t *index)
{
    return mimic__opt_index(&student_table, name, index);
}

int mimic_student_option_set(mimic_student_options *o, const char *name, const char *value)
{
    return mimic__opt_set(&student_table, o, name, value);
}

int mimic__student_options_validate(const mimic_student_options *o, mimic__layout *L)
{
    int rc = mimic__opt_validate(&student_table, o);
    if (rc != MIMIC_OK)
        return rc;
    return mimic__layout_init(L, o->n_inputs, o->n_hidden, o->n_bottleneck, o->n_classes);
}

/* ---- handles, layout -------------------------------------------------------------------- */

int mimic__student_check(const mimic_student *s, const char *arg)
{
    return mimic__handle_check(s, s ? s->magic : 0, MIMIC__MAGIC_STUDENT, arg, "student");
}

int mimic__layout_init(mimic__layout *L, size_t D, size_t H, size_t k, size_t C)
{
    size_t kin = k ? k : D, a, b, c, n;
    memset(L, 0, sizeof *L);
    /* BLAS takes int dimensions. */
    if (D > INT_MAX || H > INT_MAX || k > INT_MAX || C > INT_MAX)
        return mimic__error(MIMIC_ERR_RANGE,
                            "student sizes D=%zu H=%zu k=%zu C=%zu: each must be <= %d", D, H, k,
                            C, INT_MAX);
    if (!mimic__mul_ok(k, D, &a) || !mimic__mul_ok(H, kin, &b) || !mimic__mul_ok(C, H, &c) ||
        !mimic__add_ok(a, b, &n) || !mimic__add_ok(n, H, &n) || !mimic__add_ok(n, c, &n) ||
        !mimic__add_ok(n, C, &n) || n > SIZE_MAX / sizeof(float))
        return mimic__error(MIMIC_ERR_RANGE,
                            "student sizes D=%zu H=%zu k=%zu C=%zu: parameter count overflows",
                            D, H, k, C);
    L->D = D;
    L->H = H;
    L->k = k;
    L->C = C;
    L->kin = kin;
    L->off_bottleneck = 0;
    L->off_hidden_w = a;
    L->off_hidden_b = a + b;
    L->off_output_w = a + b + H;
    L->off_output_b = a + b + H + c;
    L->n_params = n;
    return MIMIC_OK;
}

int mimic__student_alloc(const mimic_student_options *o, mimic_student **out)
{
    mimic__layout L;
    int rc = mimic__student_options_validate(o, &L);
    if (rc != MIMIC_OK)
        return rc;
    mimic_student *s = mimic__calloc(1, sizeof *s);
    if (!s)
        return mimic__error(MIMIC_ERR_NOMEM, "student: out of memory");
    s->params = mimic__aligned_alloc(L.n_params * sizeof(float));
    if (!s->params) {
        mimic__free(s);
        return mimic__error(MIMIC_ERR_NOMEM, "student: out of memory for %zu parameters",
                            L.n_params);
    }
    s->magic = MIMIC__MAGIC_STUDENT;
    s->opts = *o;
    s->L = L;
    *out = s;
    return MIMIC_OK;
}

/* One layer's weights (rows x cols, fan_in = cols, fan_out = rows) and bias (NULL for the
 * bottleneck). feeds_relu: the layer's output goes through a ReLU (He-normal's case). */
static void init_layer(float *w, float *bias, size_t rows, size_t cols, int32_t scheme,
                       int feeds_relu, mimic__rng *rng)
{
    if (scheme == MIMIC_INIT_UNIFORM) {
        double bound = 1.0 / sqrt((double)cols); /* PyTorch's kaiming_uniform(a=sqrt(5)) */
        for (size_t i = 0; i < rows * cols; i++)
            w[i] = (float)(bound * (2.0 * mimic__rng_uniform(rng) - 1.0));
        if (bias)
            for (size_t i = 0; i < rows; i++)
                bias[i] = (float)(bound * (2.0 * mimic__rng_uniform(rng) - 1.0));
        return;
    }
    double std = feeds_relu ? sqrt(2.0 / (double)cols) : sqrt(2.0 / ((double)cols + (double)rows));
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = (float)(std * mimic__rng_normal(rng));
    if (bias)
        memset(bias, 0, rows * sizeof(float));
}

int mimic_student_create(mimic_student **out, const mimic_student_options *opts)
{
    if (!out)
        return mimic__error(MIMIC_ERR_INVALID, "mimic_student_create: out is NULL");
    *out = NULL;
    mimic_student_options o;
    mimic_student_options_init(&o, sizeof o);
    int rc = mimic__struct_copy_in(&o, sizeof o, opts, "mimic_student_options");
    if (rc != MIMIC_OK)
        return rc;
    mimic_student *s;
    rc = mimic__student_alloc(&o, &s);
    if (rc != MIMIC_OK)
        return rc;
    const mimic__layout *L = &s->L;
    mimic__rng rng;
    mimic__rng_seed(&rng, o.seed);
    float *p = s->params;
    if (L->k)
        init_layer(p + L->off_bottleneck, NULL, L->k, L->D, o.init, 0, &rng);
    init_layer(p + L->off_hidden_w, p + L->off_hidden_b, L->H, L->kin, o.init,
               o.activation == MIMIC_ACT_RELU, &rng);
    init_layer(p + L->off_output_w, p + L->off_output_b, L->C, L->H, o.init, 0, &rng);
    *out = s;
    return MIMIC_OK;
}

void mimic_student_free(mimic_student *s)
{
    if (!s || s->magic != MIMIC__MAGIC_STUDENT)
        return;
    s->magic = MIMIC__MAGIC_DEAD;
    mimic__pool_free(s->pool);
    mimic__compact_free(s->compact);
    mimic__free(s->params);
    mimic__free(s->in_mean);
    mimic__free(s->in_scale);
    mimic__free(s);
}

static float *copy_floats(const float *src, size_t n)
{
    float *p = mimic__aligned_alloc(n * sizeof(float));
    if (p)
        memcpy(p, src, n * sizeof(float));
    return p;
}

int mimic__student_clone(const mimic_student *s, mimic_student **out)
{
    *out = NULL;
    int rc = mimic__student_check(s, "student");
    if (rc != MIMIC_OK)
        return rc;
    mimic_student *c;
    rc = mimic__student_alloc(&s->opts, &c);
    if (rc != MIMIC_OK)
        return rc;
    memcpy(c->params, s->params, s->L.n_params * sizeof(float));
    if (s->in_mean) {
        c->in_mean = copy_floats(s->in_mean, s->L.D);
        c->in_scale = copy_floats(s->in_scale, s->L.D);
        if (!c->in_mean || !c->in_scale) {
            mimic_student_free(c);
            return mimic__error(MIMIC_ERR_NOMEM, "student: out of memory copying a student");
        }
    }
    if ((rc = mimic__compact_clone(s->compact, &s->L, &c->compact)) != MIMIC_OK) {
        mimic_student_free(c);
        return rc;
    }
    *out = c;
    return MIMIC_OK;
}

/* Idle workers of a student spin this long before they sleep: back-to-back requests are
 * handed over without a wake-up (tens of microseconds in a VM); a quiet student costs no CPU
 * after that. */
#define STUDENT_SPIN_S 2e-4

int mimic_student_set_threads(mimic_student *s, size_t threads)
{
    static const char fn[] = "mimic_student_set_threads";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (threads == mimic__pool_threads(s->pool) || (threads <= 1 && !s->pool))
        return MIMIC_OK; /* already so: no thread stopped or started */
    mimic__pool *p = NULL;
    if ((rc = mimic__pool_create(&p, threads, STUDENT_SPIN_S, false)) != MIMIC_OK) {
        char why[200];
        return mimic__error(rc, "%s: %s", fn, mimic__error_copy(why, sizeof why));
    }
    mimic__pool_free(s->pool);
    s->pool = p;
    return MIMIC_OK;
}

size_t mimic_student_threads(const mimic_student *s)
{
    if (!s || s->magic != MIMIC__MAGIC_STUDENT)
        return 0;
    return mimic__pool_threads(s->pool);
}

size_t mimic_student_num_params(const mimic_student *s)
{
    if (!s || s->magic != MIMIC__MAGIC_STUDENT)
        return 0;
    return s->L.n_params;
}

int mimic_student_get_options(const mimic_student *s, mimic_student_options *out)
{
    static const char fn[] = "mimic_student_get_options";
    int rc = mimic__student_check(s, fn);
    if (rc == MIMIC_OK)
        rc = mimic__struct_check_out(out, fn, "mimic_student_options_init");
    if (rc != MIMIC_OK)
        return rc;
    mimic__struct_copy_out(out, out->struct_size, &s->opts, sizeof s->opts);
    return MIMIC_OK;
}

/* ---- named tensors: the table ------------------------------------------------------------ */

static const char *const tensor_name[MIMIC__T_COUNT] = {
    "input.mean", "input.scale", "bottleneck.weight", "hidden.weight", "hidden.bias",
    "output.weight", "output.bias"};

void mimic__tensor_describe(const mimic__layout *L, bool normalized, mimic__tensor_id id,
                            mimic__tensor_desc *out)
{
    memset(out, 0, sizeof *out);
    out->name = tensor_name[id];
    out->present = true;
    out->trainable = true;
    switch (id) {
    case MIMIC__T_INPUT_MEAN:
    case MIMIC__T_INPUT_SCALE:
        out->cols = L->D;
        out->present = normalized;
        out->trainable = false;
        break;
    case MIMIC__T_BOTTLENECK_W:
        out->rows = L->k;
        out->cols = L->D;
        out->present = L->k > 0;
        out->offset = L->off_bottleneck;
        break;
    case MIMIC__T_HIDDEN_W:
        out->rows = L->H;
        out->cols = L->kin;
        out->offset = L->off_hidden_w;
        break;
    case MIMIC__T_HIDDEN_B:
        out->cols = L->H;
        out->offset = L->off_hidden_b;
        break;
    case MIMIC__T_OUTPUT_W:
        out->rows = L->C;
        out->cols = L->H;
        out->offset = L->off_output_w;
        break;
    default: /* MIMIC__T_OUTPUT_B */
        out->cols = L->C;
        out->offset = L->off_output_b;
        break;
    }
}

mimic__tensor_id mimic__tensor_lookup(const char *name)
{
    for (int i = 0; i < MIMIC__T_COUNT; i++)
        if (name && strcmp(name, tensor_name[i]) == 0)
            return (mimic__tensor_id)i;
    return MIMIC__T_COUNT;
}

const char *mimic__tensor_names(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < MIMIC__T_COUNT; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", tensor_name[i]);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

float *mimic__tensor_data(const mimic_student *s, mimic__tensor_id id)
{
    mimic__tensor_desc t;
    mimic__tensor_describe(&s->L, s->in_mean != NULL, id, &t);
    if (!t.present)
        return NULL;
    if (t.trainable)
        return s->params + t.offset;
    return id == MIMIC__T_INPUT_MEAN ? s->in_mean : s->in_scale;
}

/* The tensor called `name` of s: its data and its shape as the public getters report it
 * (1-D tensors as 1 x n). */
static int find_tensor(const mimic_student *s, const char *name, const char *fn, float **data,
                       size_t *rows, size_t *cols)
{
    if (!name)
        return mimic__error(MIMIC_ERR_INVALID, "%s: tensor name is NULL", fn);
    mimic__tensor_id id = mimic__tensor_lookup(name);
    char known[160];
    if (id == MIMIC__T_COUNT)
        return mimic__error(MIMIC_ERR_INVALID, "%s: unknown tensor \"%s\" (known: %s)", fn, name,
                            mimic__tensor_names(known, sizeof known));
    mimic__tensor_desc t;
    mimic__tensor_describe(&s->L, s->in_mean != NULL, id, &t);
    if (!t.present)
        return mimic__error(MIMIC_ERR_INVALID, "%s: \"%s\": this student has no %s", fn, name,
                            id == MIMIC__T_BOTTLENECK_W ? "bottleneck (k = 0)"
                                                        : "input normalization");
    *data = mimic__tensor_data(s, id);
    *rows = t.rows ? t.rows : 1;
    *cols = t.cols;
    return MIMIC_OK;
}

int mimic_student_tensor(const mimic_student *s, const char *name, const float **data,
                         size_t *rows, size_t *cols)
{
    static const char fn[] = "mimic_student_tensor";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    if (!data || !rows || !cols)
        return mimic__error(MIMIC_ERR_INVALID, "%s: data, rows and cols must not be NULL", fn);
    float *p = NULL;
    size_t r = 0, c = 0;
    rc = find_tensor(s, name, fn, &p, &r, &c);
    if (rc != MIMIC_OK)
        return rc;
    *data = p;
    *rows = r;
    *cols = c;
    return MIMIC_OK;
}

static int check_finite_floats(const float *x, size_t n, const char *fn, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return mimic__error(MIMIC_ERR_NUMERIC, "%s: %s has a non-finite value (%g) at %zu",
                                fn, what, (double)x[i], i);
    return MIMIC_OK;
}

int mimic_student_set_tensor(mimic_student *s, const char *name, const float *data, size_t rows,
                             size_t cols)
{
    static const char fn[] = "mimic_student_set_tensor";
    int rc = mimic__student_check(s, fn);
    if (rc != MIMIC_OK)
        return rc;
    float *p = NULL;
    size_t r = 0, c = 0;
    rc = find_tensor(s, name, fn, &p, &r, &c);
    if (rc != MIMIC_OK)
        return rc;
    if (!data)
        return mimic__error(MIMIC_ERR_INVALID, "%s: \"%s\": data is NULL", fn, name);
    if (rows != r || cols != c)
        return mimic__error(MIMIC_ERR_SHAPE, "%s: \"%s\" is %zu x %zu, got %zu x %zu", fn, name,
                            r, c, rows, cols);
    for (size_t m = 0; m < MIMIC__N_MATRICES; m++) /* a weight matrix of compact weights */
        if (mimic__matrix_tensor(m) == mimic__tensor_lookup(name) &&
            (rc = mimic__student_check_float(s, fn)) != MIMIC_OK)
            return rc;
    rc = check_finite_floats(data, r * c, fn, name);
    if (rc != MIMIC_OK)
        return rc;
    memmove(p, data, r * c * sizeof(float));
    return MIMIC_OK;
}

int mimic__input_norm_copy(const mimic_student *s, const float *mean, const float *scale, float **m,
                           float **c, const char *fn)
{
    *m = *c = NULL;
    if (!mean != !scale)
        return mimic__error(MIMIC_ERR_INVALID,
                            "%s: mean and scale must both be set or both be NULL", fn);
    if (!mean)
        return MIMIC_OK;
    size_t D = s->L.D;
    int rc = check_finite_floats(mean, D, fn, "mean");
    if (rc == MIMIC_OK)
        rc = check_finite_floats(scale, D, fn, "scale");
    if (rc != MIMIC_OK)
        return rc;
    *m = copy_floats(mean, D);
    *c = *m ? copy_floats(scale, D) : NULL;
    if (!*c) {
        mimic__free(*m);
        *m = NULL;
        return mimic__error(MIMIC_ERR_NOMEM, "%s: out of memory", fn);
    }
    return MIMIC_OK;
}

void mimic__input_norm_take(mimic_student *s, float *m, float *c)
{
    mimic__free(s->in_mean);
    mimic__free(s->in_scale);
    s->in_mean = m;
    s->in_scale = c;
}

int mimic_student_set_input_norm(mimic_student *s, const float *mean, const float *scale)
{
    static const char fn[] = "mimic_student_set_input_norm";
    int rc = mimic__student_check(s, fn);
    float *m, *c;
    if (rc == MIMIC_OK)
        rc = mimic__input_norm_copy(s, mean, scale, &m, &c, fn);
    if (rc == MIMIC_OK)
        mimic__input_norm_take(s, m, c);
    return rc;
}
