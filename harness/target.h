/*
 * The runtime under test (exstress --runtime): rex, whose scenarios run
 * through the scenario runner (runner.c), or an event loop behind the
 * adapter interface (adapter.h: built in, harness/adapters/, or a plugin
 * loaded with dlopen). run.c and main.c see only this, so sampling, heap
 * accounting, verdicts and outputs are the same for every runtime.
 */
#ifndef EXS_TARGET_H
#define EXS_TARGET_H

#include "adapter.h"
#include "exstress.h"

struct exs_target;

/* The runtime o asks for, ready to run iterations. 0, or -errno with msg
 * holding one line (an unknown runtime, a plugin that cannot be loaded or
 * has another ABI, a scenario it does not offer, an option it does not
 * take: all exit 2). */
int exs_target_open(const struct exs_options *o, struct exs_target **out,
		    char *msg, size_t len);
/* What the outputs' "policy" says: rex's policy ("fixed"), else
 * "RUNTIME:TEARDOWN" ("libuv:careless"). */
const char *exs_target_label(const struct exs_target *t);
/* Does it run scenario sc (rex: every one; a loop adapter: those whose
 * kind of parked task it offers)? */
int exs_target_supports(const struct exs_target *t, enum exs_scenario sc);
/* One iteration: 0 or -errno with msg holding one line. */
int exs_target_iteration(struct exs_target *t, enum exs_scenario sc,
			 uint64_t iteration, char *msg, size_t len);
/* Tasks still parked when loops were torn down, since the last call. */
uint64_t exs_target_take_parked(struct exs_target *t);
void exs_target_free(struct exs_target *t);
/* A loop runtime's adapter and the idle fd its loops park on, for bench's
 * bare cycle (harness/bench/fig_runtimes.c); NULL for rex. */
const struct exs_adapter *exs_target_adapter(const struct exs_target *t,
					     int *idle_fd);

#endif
