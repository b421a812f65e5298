/* test_kern_err.c - the error channel from a backend to the stage's one-line message: the detail
 * a backend records for a failed call (kern_record_error, as the CUDA backend's CUDA_CHECK does:
 * expression, status name, file:line) reaches the awq error that awq_kern_fail sets, once; and the
 * capability bits that stages ask instead of backend names. No GPU needed: a backend that fails
 * like a device stands in for one. */
#include "test.h"
#include "../kernels/kernels.h"
#include "../stages/common/devmem.h"
#include "../stages/common/kern_err.h"

#include <string.h>

#define DETAIL "cublasGemmEx(ctx->blas, ...): CUBLAS_STATUS_EXECUTION_FAILED (matmul.cu:88)"

/* the CPU's table, but its alloc fails as a device does: recorded detail + KERN_ERR_DEVICE */
static kern_status failing_alloc(awq_backend_ctx *ctx, void **ptr, size_t bytes)
{
    (void)ctx, (void)bytes;
    *ptr = NULL;
    kern_record_error("%s", DETAIL);
    return KERN_ERR_DEVICE;
}

static void t_detail_reaches_the_message(void)
{
    awq_backend fake = *awq_backend_cpu();
    fake.alloc = failing_alloc;
    fake.caps = KERN_CAP_CUDA;
    kern_clear_error();
    awq_clear_error();
    void *p = (void *)1;
    awq_err e = awq_dev_alloc(&fake, &p, 64);
    CHECK(e == AWQ_ERR_DEVICE, "awq_dev_alloc gave %d", (int)e);
    const char *msg = awq_errmsg();
    CHECK(strstr(msg, "cannot allocate") && strstr(msg, kern_strerror(KERN_ERR_DEVICE)) && strstr(msg, DETAIL),
          "message '%s' lacks what, status or the backend's detail", msg);
    CHECK(strchr(msg, '\n') == NULL, "message '%s' is not one line", msg);
    CHECK(*kern_last_error() == 0, "the detail was not consumed: '%s'", kern_last_error());
    /* a later failure without a recorded detail does not repeat the old one, and an argument
     * error carries none */
    awq_clear_error();
    awq_kern_fail(KERN_ERR_DEVICE, "sync");
    CHECK(strstr(awq_errmsg(), "matmul.cu") == NULL, "stale detail in '%s'", awq_errmsg());
    kern_record_error("%s", DETAIL);
    awq_clear_error();
    awq_kern_fail(KERN_ERR_ARG, "clip search");
    CHECK(strstr(awq_errmsg(), "matmul.cu") == NULL, "stale detail in '%s'", awq_errmsg());
    CHECK(strstr(awq_errmsg(), "clip search") && strstr(awq_errmsg(), kern_strerror(KERN_ERR_ARG)), "'%s'", awq_errmsg());
    awq_clear_error();
}

static void t_status_mapping(void)
{
    static const struct { kern_status s; awq_err e; } map[] = {
        {KERN_ERR_NOMEM, AWQ_ERR_NOMEM}, {KERN_ERR_DEVICE, AWQ_ERR_DEVICE},
        {KERN_ERR_UNSUPPORTED, AWQ_ERR_UNSUPPORTED}, {KERN_ERR_ARG, AWQ_ERR_ARG},
    };
    for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
        awq_clear_error();
        CHECK(awq_kern_fail(map[k].s, "op") == map[k].e && awq_errcode() == map[k].e, "status %d", (int)map[k].s);
    }
    awq_clear_error();
}

static void t_capabilities(void)
{
    const awq_backend *cpu = awq_backend_cpu();
    CHECK(cpu->caps & KERN_CAP_HOST_MEMORY, "cpu: host memory");
    CHECK(cpu->caps & KERN_CAP_HOST_COMPUTE, "cpu: host compute");
    CHECK(!(cpu->caps & KERN_CAP_CUDA), "cpu: not cuda");
    CHECK(awq_backend_is_host(cpu), "awq_backend_is_host(cpu)");
    awq_backend dev = *cpu;
    dev.caps = KERN_CAP_CUDA;
    dev.name = "cpu"; /* the name no longer decides */
    CHECK(!awq_backend_is_host(&dev), "a device backend is not host memory, whatever its name");
}

int main(int argc, char **argv)
{
    static const t_case cases[] = {
        {"detail_reaches_the_message", t_detail_reaches_the_message},
        {"status_mapping", t_status_mapping},
        {"capabilities", t_capabilities},
    };
    return t_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
