/* gguf_speed.py's low-level loop in C, called through ctypes on the context Python made: what the
   same loop loses in Python, in the same process and context, is what Python costs per token. */
#include <time.h>

#include "llama.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* Python's perf_counter reads this clock too */
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* `tokens` llama_decode calls of one token each, after a prompt already decoded: the token drawn by
   `sampler` from the previous call's logits or, without a sampler, the fixed `token` (as
   llama-bench's tg decodes tokens it never samples). starts[i] and ends[i] are the times around the
   i-th call. Returns llama_decode's status, 0 when every call succeeded. */
int decode_loop(struct llama_context * ctx, struct llama_sampler * sampler, llama_token token, int tokens,
                double * starts, double * ends) {
    for (int i = 0; i < tokens; i++) {
        if (sampler) {
            token = llama_sampler_sample(sampler, ctx, -1);
        } else {
            llama_synchronize(ctx);
        }
        starts[i] = seconds();
        const int status = llama_decode(ctx, llama_batch_get_one(&token, 1));
        ends[i] = seconds();
        if (status) {
            return status;
        }
    }
    return 0;
}
