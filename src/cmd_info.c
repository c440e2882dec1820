/* `mimic info` and `mimic export`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define ST_MAX_HEADER (100u << 20) /* safetensors' own limit on the JSON header */

/* ---- the "__metadata__" strings of a safetensors header (read-only, for display) ------- */

typedef struct json_cur {
    const char *p, *end;
} json_cur;

static void ws(json_cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Parse a JSON string into out (NUL-terminated, escapes decoded; \u escapes above 0x7f are
 * written as UTF-8). Returns 0 or -1. */
static int json_string(json_cur *c, char *out, size_t cap)
{
    size_t n = 0;
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        unsigned ch = (unsigned char)*c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            char e = *c->p++;
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                if (c->end - c->p < 4)
                    return -1;
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *c->p++;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return -1;
                }
                ch = v < 0x80 ? v : '?';
                break;
            }
            default: ch = (unsigned char)e;
            }
        }
        if (n + 1 < cap)
            out[n++] = (char)ch;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    out[n] = '\0';
    return 0;
}

/* Skip any JSON value (depth-limited). */
static int json_skip(json_cur *c, int depth)
{
    ws(c);
    if (c->p >= c->end || depth > 64)
        return -1;
    char ch = *c->p;
    if (ch == '"') {
        char tmp[2];
        return json_string(c, tmp, sizeof tmp);
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                char tmp[2];
                ws(c);
                if (json_string(c, tmp, sizeof tmp) != 0)
                    return -1;
                ws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    return -1;
            }
            if (json_skip(c, depth + 1) != 0)
                return -1;
            ws(c);
            if (c->p >= c->end)
                return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p == close) {
                c->p++;
                return 0;
            }
            return -1;
        }
    }
    while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ' && *c->p != '\n')
        c->p++;
    return 0;
}

/* Print the string entries of the top-level "__metadata__" object, one per line. */
static int print_metadata(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char lenb[8];
    char *h = NULL;
    int rc = -1;
    if (fread(lenb, 1, 8, f) != 8)
        goto done;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | lenb[i];
    if (n == 0 || n > ST_MAX_HEADER)
        goto done;
    h = malloc((size_t)n);
    if (!h || fread(h, 1, (size_t)n, f) != n)
        goto done;
    json_cur c = {h, h + n};
    ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        goto done;
    for (;;) {
        char key[64];
        ws(&c);
        if (json_string(&c, key, sizeof key) != 0)
            goto done;
        ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            goto done;
        ws(&c);
        if (strcmp(key, "__metadata__") == 0 && c.p < c.end && *c.p == '{') {
            c.p++;
            ws(&c);
            if (c.p < c.end && *c.p == '}') {
                rc = 0;
                goto done;
            }
            printf("metadata:\n");
            for (;;) {
                char k[128], v[1024];
                ws(&c);
                if (json_string(&c, k, sizeof k) != 0)
                    goto done;
                ws(&c);
                if (c.p >= c.end || *c.p++ != ':')
                    goto done;
                ws(&c);
                if (c.p < c.end && *c.p == '"') {
                    if (json_string(&c, v, sizeof v) != 0)
                        goto done;
                    printf("  %-20s %s\n", k, v);
                } else if (json_skip(&c, 0) != 0) {
                    goto done;
                }
                ws(&c);
                if (c.p < c.end && *c.p == ',') {
                    c.p++;
                    continue;
                }
                rc = 0;
                goto done;
            }
        }
        if (json_skip(&c, 0) != 0)
            goto done;
        ws(&c);
        if (c.p >= c.end || *c.p != ',') {
            rc = 0; /* no metadata */
            goto done;
        }
        c.p++;
    }
done:
    free(h);
    fclose(f);
    return rc;
}

static const char *activation_name(int32_t a)
{
    switch (a) {
    case MIMIC_ACT_RELU: return "relu";
    case MIMIC_ACT_SIGMOID: return "sigmoid";
    case MIMIC_ACT_TANH: return "tanh";
    default: return "unknown";
    }
}

int cmd_info(int argc, char **argv)
{
    const char *cmd = "info";
    const char *model = NULL;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, NULL, NULL, "FILE", "required", "student (.safetensors)", 0},
    };
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, 1, "--model M",
                       "Show a student's architecture, parameter count, activation, input normalization and the "
                       "metadata stored in the file.", &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if ((rc = cli_require(cmd, opts, 1, "--model")) != CLI_EXIT_OK)
        return rc;
    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    mimic_student_options so;
    mimic_student_options_init(&so, sizeof so);
    mimic_student_get_options(s, &so);
    const float *mean;
    size_t r, c;
    int has_norm = mimic_student_tensor(s, "input.mean", &mean, &r, &c) == MIMIC_OK;
    printf("model:        %s\n", model);
    if (so.n_bottleneck)
        printf("architecture: %zu inputs -> %zu bottleneck (linear) -> %zu hidden (%s) -> %zu logits\n",
               so.n_inputs, so.n_bottleneck, so.n_hidden, activation_name(so.activation), so.n_classes);
    else
        printf("architecture: %zu inputs -> %zu hidden (%s) -> %zu logits\n", so.n_inputs, so.n_hidden,
               activation_name(so.activation), so.n_classes);
    printf("inputs:       %zu\nbottleneck:   %zu%s\nhidden:       %zu\nclasses:      %zu\n", so.n_inputs,
           so.n_bottleneck, so.n_bottleneck ? "" : " (none)", so.n_hidden, so.n_classes);
    printf("activation:   %s\n", activation_name(so.activation));
    printf("parameters:   %zu\n", mimic_student_num_params(s));
    printf("input norm:   %s\n", has_norm ? "yes (input.mean, input.scale stored in the model)" : "no");
    mimic_student_free(s);
    if (print_metadata(model) != 0)
        printf("metadata:     (unreadable)\n");
    if (fflush(stdout) != 0)
        return cli_error(cmd, "cannot write to standard output");
    return CLI_EXIT_OK;
}

int cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    const char *model = NULL, *onnx = NULL;
    cli_opt opts[] = {
        {"--model", OPT_STR, &model, NULL, NULL, "FILE", "required", "student (.safetensors)", 0},
        {"--onnx", OPT_STR, &onnx, NULL, NULL, "FILE", "required", "ONNX file to write (opset 13)", 0},
    };
    int help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, 2, "--model M --onnx out.onnx",
                       "Export a student as a self-contained ONNX model: input \"input\" [batch, D] (raw inputs; "
                       "the stored\nnormalization is part of the graph), output \"logits\" [batch, C].", &help);
    if (rc != CLI_EXIT_OK || help)
        return rc;
    if ((rc = cli_require(cmd, opts, 2, "--model")) != CLI_EXIT_OK ||
        (rc = cli_require(cmd, opts, 2, "--onnx")) != CLI_EXIT_OK)
        return rc;
    mimic_student *s = NULL;
    if ((rc = cli_load_model(cmd, model, &s)) != CLI_EXIT_OK)
        return rc;
    int st = mimic_student_export_onnx(s, onnx);
    mimic_student_free(s);
    if (st != MIMIC_OK)
        return cli_lib_error(cmd, onnx, st);
    return CLI_EXIT_OK;
}
