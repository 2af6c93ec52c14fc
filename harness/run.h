/* Shared by main.c (the process) and run.c (one scenario's run). */
#ifndef EXS_RUN_H
#define EXS_RUN_H

#include "exstress.h"

struct ctx {
	struct exs_options *o;
	struct exs_sampler sampler;
	struct exs_probe *probe;
	struct exs_runner *runner;
	struct exs_csv *csv;
	int progress;		 /* draw the progress line */
	int heap;		 /* heap.c counts: sample it */
	const char *heap_why;	 /* why not, when --heap on */
	unsigned scenarios_left; /* this one and those after it */
	int leaked_before;	 /* an earlier scenario of this run leaked */
};

/* Returns EXS_EXIT_PASS/LEAK with *res filled, or EXS_EXIT_USAGE after
 * printing why. */
int exs_run_scenario(struct ctx *c, enum exs_scenario sc,
		     struct exs_result *res);

/* main.c: a stop signal arrived (and which); an iteration finished. */
int exs_stopping(void);
int exs_stop_signal(void);
void exs_watchdog_progress(const char *scenario);

#endif
