/* Shared by main.c (the process) and run.c (one scenario's run). */
#ifndef EXS_RUN_H
#define EXS_RUN_H

#include "exstress.h"
#include "target.h"

struct ctx {
	struct exs_options *o;
	struct exs_sampler sampler;
	struct exs_probe *probe;
	struct exs_target *target; /* the runtime under test */
	struct exs_csv *csv;
	int progress;		 /* draw the progress line */
	int heap;		 /* heap.c counts: sample it */
	const char *heap_why;	 /* why not, when --heap on */
	unsigned scenarios_left; /* this one and those after it */
	int leaked_before;	 /* an earlier scenario of this run leaked */
	/* One per scenario asked for; the first nres are finished. Both
	 * change only under the state lock, as does the CSV and the state of
	 * the scenario in progress (run.c), so a run stopped outright
	 * (main.c) writes whole outputs from another thread. */
	struct exs_result *results;
	size_t nres;
};

/* Returns EXS_EXIT_PASS/LEAK with c->results[c->nres++] filled, or
 * EXS_EXIT_USAGE after printing why. */
int exs_run_scenario(struct ctx *c, enum exs_scenario sc);

/* The scenario in progress as a result: interrupted, with the verdict
 * over the samples folded so far (or none during the warm-up), its last
 * sample's CSV row written. 0 when none is in progress. Call with the
 * state lock held. */
int exs_run_snapshot(struct ctx *c, struct exs_result *res);

/* main.c: the lock over the state above. The run loop holds it only
 * between iterations, never while one runs. */
void exs_state_lock(void);
void exs_state_unlock(void);

/* main.c: a stop signal arrived (and which); an iteration finished. */
int exs_stopping(void);
int exs_stop_signal(void);
void exs_watchdog_progress(const char *scenario);

#endif
