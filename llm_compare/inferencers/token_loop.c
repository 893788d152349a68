/* The GGUF backend's token loop, in C so that nothing but C runs between two llama_decode calls,
   as in llama.cpp's own tools. Python run right after llama_decode is cold (the weights have just
   streamed through the caches): a Python loop cost 2-3 % of a small model's token. */
#include <time.h>

#include "llama.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* the clock behind Python's time.perf_counter */
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Decode `pending` (when it is a token, not -1), then draw the next token from `sampler`; repeat
   until `limit` tokens are drawn, one of them ends the generation, or the clock has passed `until`.
   ids[i] is the i-th token drawn and times[i] when it was drawn. The last token drawn is not decoded:
   the caller decides whether to go on, and passes it as `pending` to the next call. Returns how many
   tokens were drawn; *status is llama_decode's status, not 0 when it failed (and the loop stopped). */
int llmc_generate(struct llama_context * ctx, struct llama_sampler * sampler, const struct llama_vocab * vocab,
                  llama_token pending, int limit, double until, llama_token * ids, double * times, int * status) {
    *status = 0;
    for (int n = 0; n < limit; n++) {
        if (pending >= 0 && (*status = llama_decode(ctx, llama_batch_get_one(&pending, 1)))) {
            return n;
        }
        pending = ids[n] = llama_sampler_sample(sampler, ctx, -1);
        times[n] = seconds();
        if (llama_vocab_is_eog(vocab, pending) || times[n] >= until) {
            return n + 1;
        }
    }
    return limit;
}
