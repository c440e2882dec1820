/*
 * libmimic: introspection of the options structs.
 *
 * Every field of mimic_student_options and mimic_train_options is described once, in the
 * library's option tables: its name, type, default, bounds, the version that added it,
 * whether it shapes a training run (is part of a checkpoint's identity), and the flag and
 * help text of the `mimic` command-line tool. The tool builds its flags and --help from
 * these calls, and the Python package builds its ctypes structs and checks its keyword
 * arguments with them, so a binding never mirrors the structs by hand.
 *
 *   for (size_t i = 0; i < mimic_train_option_count(); i++) {
 *       mimic_option_info info;
 *       info.struct_size = sizeof info;
 *       mimic_train_option_info(i, &info);
 *       printf("%s (%s)\n", info.name, info.help);
 *   }
 *   mimic_train_option_set(&opts, "learning_rate", "0.01");   // or "--lr": the CLI flag
 *
 * Messages of the setters and of option validation name the field as "options.<name>"
 * (train) or "student_options.<name>" (student), so a binding can replace that text with
 * its own spelling (a CLI flag, a keyword argument). Thread-safe; no allocation.
 */
#ifndef MIMIC_OPTIONS_H
#define MIMIC_OPTIONS_H

#include "common.h"
#include "student.h"
#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Field types (mimic_option_info.type, int32_t). */
enum mimic_option_type {
    MIMIC_OPTION_BOOL = 1,    /* int32_t, 0 or 1 */
    MIMIC_OPTION_ENUM = 2,    /* int32_t, one of the named choices */
    MIMIC_OPTION_INT32 = 3,   /* int32_t */
    MIMIC_OPTION_UINT64 = 4,  /* uint64_t */
    MIMIC_OPTION_SIZE = 5,    /* size_t */
    MIMIC_OPTION_DOUBLE = 6,  /* double, finite */
    MIMIC_OPTION_STRING = 7,  /* const char *, borrowed (NULL = unset) */
    MIMIC_OPTION_POINTER = 8  /* a handle, callback or user-data pointer: set it in C */
};

/* One field of an options struct (versioned: set struct_size before the call). Strings
 * are static; they stay valid for the life of the process. */
typedef struct mimic_option_info {
    size_t struct_size;
    const char *name;         /* the field, e.g. "learning_rate" */
    int32_t type;             /* MIMIC_OPTION_* */
    int32_t since;            /* the version that added it, as MIMIC_VERSION_NUMBER (10000) */
    size_t offset;            /* offsetof(struct, field) */
    size_t size;              /* sizeof(field) */
    double default_value;     /* what the _options_init function writes; NaN for strings and
                                 pointers */
    double min, max;          /* bounds of a number (-HUGE_VAL / HUGE_VAL when open) */
    int32_t min_exclusive;    /* 1: the value must be > min (else >= min) */
    int32_t max_exclusive;    /* 1: the value must be < max (else <= max) */
    int32_t shapes_run;       /* 1: part of a checkpoint's identity (a resume must match) */
    size_t n_choices;         /* ENUM: the number of named values (see _option_choice) */
    const char *cli_flag;     /* "--lr" in `mimic train`, or NULL when it has none */
    const char *metavar;      /* "LR" (--help), or NULL */
    const char *help;         /* one line of help */
    const char *default_text; /* the default as --help shows it, when a number says too
                                 little ("0 (the optimizer's and loss's default)"), or NULL */
    const char *group;        /* what it is about, a heading for --help ("optimization") */
} mimic_option_info;

/* ---- mimic_train_options ------------------------------------------------------------- */

/* sizeof(mimic_train_options) in this library (a binding that builds the struct from the
 * table checks its layout against it). */
MIMIC_API size_t mimic_train_options_size(void);
/* The number of fields described (struct_size excluded). */
MIMIC_API size_t mimic_train_option_count(void);
/* Field `index` (0 <= index < count). Errors: MIMIC_ERR_INVALID (NULL out, struct_size
 * unset), MIMIC_ERR_RANGE (index). */
MIMIC_API int mimic_train_option_info(size_t index, mimic_option_info *out);
/* The k-th named value of an ENUM field: its name ("adam") and value
 * (MIMIC_OPTIMIZER_ADAM). Errors: MIMIC_ERR_RANGE (index, k), MIMIC_ERR_INVALID. */
MIMIC_API int mimic_train_option_choice(size_t index, size_t k, const char **name,
                                        int32_t *value);
/* The index of the field called `name` (its field name or its CLI flag, e.g. "--lr").
 * Errors: MIMIC_ERR_INVALID (unknown: the message lists the known names). */
MIMIC_API int mimic_train_option_find(const char *name, size_t *index);
/* Set field `name` of *o from text: a decimal number, a choice name ("cosine") or its value,
 * 0/1/true/false for BOOL, the string itself for STRING (borrowed: it must outlive o). The
 * value is checked against the field's type and bounds (the message names the field and the
 * bound); on failure *o is unchanged. POINTER fields cannot be set from text. o must have
 * been filled by mimic_train_options_init. Errors: MIMIC_ERR_INVALID. */
MIMIC_API int mimic_train_option_set(mimic_train_options *o, const char *name, const char *value);
/* Whether field `name` has an effect with the other options in *o: MIMIC_OK when it has,
 * MIMIC_ERR_INVALID with a message naming the option it depends on when it is ignored
 * (e.g. "options.momentum has no effect: it applies to options.optimizer sgd, and
 * options.optimizer is adam"). The CLI and Python refuse a value the caller gave for an
 * option that is ignored. */
MIMIC_API int mimic_train_option_check_used(const mimic_train_options *o, const char *name);

/* ---- mimic_student_options ------------------------------------------------------------ */

MIMIC_API size_t mimic_student_options_size(void);
MIMIC_API size_t mimic_student_option_count(void);
MIMIC_API int mimic_student_option_info(size_t index, mimic_option_info *out);
MIMIC_API int mimic_student_option_choice(size_t index, size_t k, const char **name,
                                          int32_t *value);
MIMIC_API int mimic_student_option_find(const char *name, size_t *index);
MIMIC_API int mimic_student_option_set(mimic_student_options *o, const char *name,
                                       const char *value);

#ifdef __cplusplus
}
#endif

#endif /* MIMIC_OPTIONS_H */
