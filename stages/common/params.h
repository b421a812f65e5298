/* params.h - awqmake's parameters, all generated from the one record in params.def: the
 * awq_params struct, defaults, each program's options, range checks, the recipe entries of every
 * key and the command lines awq-plan writes into plan.mk. Plan and stage cannot disagree: both
 * read and write a parameter through the same entry. */
#ifndef AWQ_PARAMS_H
#define AWQ_PARAMS_H

#include <stddef.h>

#include "../../cache/key.h"
#include "opts.h"

/* The objects whose keys parameters change (.keys of an entry). */
enum {
    AWQ_K_ACT = 1 << 0,     /* act (capture): the block inputs */
    AWQ_K_SCALES = 1 << 1,  /* scales (scale search) */
    AWQ_K_SCALED = 1 << 2,  /* scaled (apply-scale) */
    AWQ_K_CLIPIN = 1 << 3,  /* clipin (the clip search's inputs) */
    AWQ_K_CLIP = 1 << 4,    /* clip (clip search) */
    AWQ_K_PACKED = 1 << 5,  /* packed (pack) */
    AWQ_K_ALL = (1 << 6) - 1,
};
/* Programs that take a parameter besides those making its objects (.also of an entry). */
enum {
    AWQ_P_PLAN = 1 << 0,     /* awq-plan */
    AWQ_P_ASSEMBLE = 1 << 1, /* awq-assemble (the checkpoint's quantization_config) */
    AWQ_P_COMPUTE = 1 << 2,  /* every program that runs a kernels backend */
    AWQ_P_FORMAT = 1 << 3,   /* the programs that lay out the output (awq-shard; awq-quantize and awq-pack,
                                whose packed object is in the output's layout when W_BIT is not 4) */
};
/* FORMAT (p->format): which checkpoint the output is */
enum { AWQ_FORMAT_AUTOAWQ = 0, AWQ_FORMAT_CT = 1 };

/* What a program is to the record: the objects it makes (it takes the parameters of their keys) and
 * its AWQ_P_* bits (it takes the parameters whose .also names them). Each program's value is
 * defined once, here, and used by the program itself and by awq-plan writing its command line. */
typedef struct awq_program { unsigned keys, prog; } awq_program;
#define AWQ_PROGRAM_PLAN         ((awq_program){AWQ_K_ALL, AWQ_P_PLAN})
#define AWQ_PROGRAM_CAPTURE      ((awq_program){AWQ_K_ACT, AWQ_P_COMPUTE})
#define AWQ_PROGRAM_QUANTIZE     ((awq_program){AWQ_K_SCALES | AWQ_K_CLIPIN | AWQ_K_CLIP | AWQ_K_PACKED, AWQ_P_COMPUTE | AWQ_P_FORMAT})
#define AWQ_PROGRAM_SCALE_SEARCH ((awq_program){AWQ_K_SCALES | AWQ_K_CLIPIN, AWQ_P_COMPUTE})
#define AWQ_PROGRAM_APPLY_SCALE  ((awq_program){AWQ_K_SCALED, 0})
#define AWQ_PROGRAM_CLIP_SEARCH  ((awq_program){AWQ_K_CLIPIN | AWQ_K_CLIP, AWQ_P_COMPUTE})
#define AWQ_PROGRAM_PACK         ((awq_program){AWQ_K_PACKED, AWQ_P_COMPUTE | AWQ_P_FORMAT})
#define AWQ_PROGRAM_SHARD        ((awq_program){0, AWQ_P_FORMAT})
#define AWQ_PROGRAM_ASSEMBLE     ((awq_program){0, AWQ_P_ASSEMBLE})
#define AWQ_PROGRAM_NONE         ((awq_program){0, 0})

typedef enum { AWQ_PT_INT, AWQ_PT_DOUBLE, AWQ_PT_FLAG, AWQ_PT_CHOICE, AWQ_PT_STRING } awq_param_type;
#define AWQ_PARAM_CTYPE_INT int
#define AWQ_PARAM_CTYPE_DOUBLE double
#define AWQ_PARAM_CTYPE_FLAG int
#define AWQ_PARAM_CTYPE_CHOICE int
#define AWQ_PARAM_CTYPE_STRING const char *

/* Every parameter (field names and meanings in params.def). */
typedef struct awq_params {
#define AWQ_PARAM(T, field, ...) AWQ_PARAM_CTYPE_##T field;
#include "params.def"
#undef AWQ_PARAM
} awq_params;

/* One entry of the record. */
typedef struct awq_param_desc {
    awq_param_type type;
    size_t offset;           /* of the field in awq_params */
    const char *make;        /* make variable, or NULL */
    const char *flag;        /* program option, without "--" */
    char short_name;
    const char *arg;         /* shown in --help */
    const char *dflt;        /* default, as typed; NULL = 0 / "" */
    const char *choices;     /* CHOICE: "a|b|c" */
    double lo, hi;           /* INT: [lo, hi]; DOUBLE: (lo, hi] */
    void (*norm)(awq_params *p);
    const char *recipe;      /* recipe entry name ("name=value": only when a FLAG is set); NULL */
    unsigned keys;           /* AWQ_K_*: objects whose key it changes */
    unsigned also;           /* AWQ_P_*: other programs that take it */
    const char *help;
} awq_param_desc;

extern const awq_param_desc awq_param_record[];
extern const int awq_param_count;

/* group <= 0 means one group per output channel: always -1 in keys and files */
void awq_param_norm_group(awq_params *p);

/* Every parameter at its default. */
void awq_params_default(awq_params *p);

/* Set one parameter from text, as the user typed it: by make variable (`GROUP`, for awq-plan's
 * VAR=VALUE arguments) or by flag name (`group`). AWQ_ERR_ARG naming both when the name is
 * unknown or the value does not parse or is out of range. */
awq_err awq_param_set(awq_params *p, const char *name, const char *value);

/* Does program `pg` take d? */
int awq_param_taken(const awq_param_desc *d, awq_program pg);

/* Append the options of program pg to l, bound to p's fields (p holds the defaults shown by
 * --help). */
void awq_param_opts(awq_optlist *l, awq_params *p, awq_program pg);

/* After parsing: normalise and range-check every parameter program pg takes. Returns
 * AWQ_ERR_ARG with a message naming the make variable and the flag ("GROUP=-5 (--group)"). */
awq_err awq_params_finish(awq_params *p, awq_program pg);

/* The recipe entries of the parameters that change the key of object `key_kind` (one AWQ_K_*). */
awq_err awq_params_recipe(awq_recipe *r, const awq_params *p, unsigned key_kind);

/* " --flag value ..." of the parameters program pg takes, in record order, shell-quoted where
 * needed, into buf (cap bytes); AWQ_ERR_ARG when it does not fit. awq-plan writes plan.mk's
 * command lines with it. */
awq_err awq_params_argv(char *buf, size_t cap, const awq_params *p, awq_program pg);

/* A parameter's value as text ("128", "fp16", "0.5"): what --help, recipes and argv show. */
void awq_param_text(const awq_param_desc *d, const awq_params *p, char *buf, size_t cap);

/* How the person who started this program sets the parameter whose option is --`flag` to `value`
 * (NULL: just name it), for hints in the words they typed: "NUMERICS=fp32" when make's pipeline
 * started the program (log.h awq_via_make), "--numerics fp32" by hand. A parameter without a make
 * variable, or a flag not in the record, is always named by its flag. Returns buf. */
const char *awq_param_say(const char *flag, const char *value, char *buf, size_t cap);
/* The same into a buffer that lives as long as the enclosing block: awq_hint("... %s", AWQ_SAY(...)) */
#define AWQ_SAY(flag, value) awq_param_say((flag), (value), (char[160]){0}, 160)

/* The entry of a field (by its offset in awq_params), for messages: NULL when none. */
const awq_param_desc *awq_param_of(size_t offset);
#define AWQ_PARAM_OF(field) awq_param_of(offsetof(awq_params, field))

#endif
