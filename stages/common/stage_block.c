/* stage_block.c - the opening and closing every block program (awq-quantize and the four
 * single-step programs) shares around the block worker: apart from stage.c because the worker
 * itself uses stage.c (the cache check), and a file pair must not call each other both ways. */
#include "stage.h"

#include <string.h>

#include "../../base/prof.h"

awq_err awq_stage_block_open(awq_stage_block *b, const awq_stage_opts *so, const awq_params *p, int check)
{
    memset(b, 0, sizeof *b);
    awq_prof_mark("stage: start");
    awq_err e = awq_model_open(&b->m, so->model);
    if (!e) awq_model_load_key_memo(b->m, so->store);
    if (!e && check != AWQ_STAGE_NO_CHECK) e = awq_params_check(p, &b->m->cfg, check);
    if (!e && !so->print_key) e = awq_store_open(&b->s, so->store, 0);
    awq_work_init(&b->w, b->m, so->block, p, b->s, NULL);
    return e;
}

int awq_stage_block_close(awq_stage_block *b, awq_err e, const awq_key *out, const char *prog)
{
    if (!e && out) awq_print_key(out);
    if (e && out) awq_context(e, "block %d", b->w.block); /* a batch (out NULL) names its blocks itself */
    const int status = awq_stage_status(b->s, e);
    awq_work_free(&b->w);
    awq_store_close(b->s);
    awq_model_close(b->m);
    if (e) awq_report(prog);
    return status;
}
