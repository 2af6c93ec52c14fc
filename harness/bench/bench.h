/*
 * bench: the one internal header. measure.c has the shared measuring and
 * reporting code (repetitions, interleaving, statistics, JSON and
 * Markdown); each fig_*.c file is one figure family; main.c parses the
 * command line and runs the figure table. See harness/bench/README.md.
 *
 * Adding a figure: a file fig_NAME.c defining
 *     const struct bench_figure bench_fig_NAME = { "NAME", ... };
 * and its line in BENCH_FIGURES below.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rex.h"

#ifndef BENCH_EXSTRESS
#define BENCH_EXSTRESS "build/bin/exstress"
#endif
#ifndef BENCH_FDTRACK /* the CLI and the programs fdtrack's figures run */
#define BENCH_FDTRACK  "build/bin/fdtrack"
#define BENCH_UV_LOOPS "build/test/bench/uv_loops"
#define BENCH_FD_BURST "build/test/bench/fd_burst"
#endif

#define BENCH_MAX_REPS	  64
#define BENCH_MAX_METRICS 16
#define BENCH_MAX_RESULTS 64

/* ---- options ---------------------------------------------------------- */

struct bench_options {
	bool smoke;	      /* tiny counts, one repetition */
	const char *json;     /* --json FILE, or NULL */
	int reps;	      /* --reps N; 0: each figure's own default */
	const char *only;     /* --only NAMES (comma separated), or NULL */
	const char *exstress; /* the exstress binary */
};

enum {
	BENCH_ARGS_OK,
	BENCH_ARGS_HELP,
	BENCH_ARGS_LIST,
	BENCH_ARGS_ERROR
};
/* Fills o (defaults first). Never exits; on BENCH_ARGS_ERROR err holds one
 * line saying what is wrong. */
int bench_parse_args(int argc, char **argv, struct bench_options *o, char *err,
		     size_t errlen);

/* ---- results ------------------------------------------------------------ */

/* One line of the table: a figure beside its floor (JSON: "baseline"),
 * measured in the same run, repetitions interleaved; ratio = median /
 * floor median. */
struct bench_result {
	char name[64];
	char what[256];
	char floor_what[320]; /* every figure has a floor */
	const char *unit;     /* a cost: lower is better */
	const char *clock;    /* "thread-cpu" or "wall" */
	const char *scenario; /* exstress_iteration: the exstress scenario */
	/* The goal is always a ratio to the floor measured in the same run
	 * (an absolute figure says more about the machine than the code):
	 * ratio <= goal_max_ratio. 0 = no goal, reported only. */
	double goal_max_ratio;
	unsigned long long count; /* operations per repetition */
	int nrep;
	double fig[BENCH_MAX_REPS];
	double floor[BENCH_MAX_REPS];
	/* a third configuration measured in the same rotation (the syscall
	 * loop with nothing attached), shown beside the floor */
	const char *extra_name;
	double extra[BENCH_MAX_REPS];
	int nextra;
	char error[256];
	/* values a figure reports beside its ratio (fdtrack_burst: fds
	 * without a stack, fdtrack's peak RSS): JSON "metrics", a line under
	 * the table */
	struct {
		const char *name;
		double value;
	} metrics[BENCH_MAX_METRICS];
	int nmetrics;
	/* computed by bench_finish */
	double med, min, max, floor_med, floor_min, floor_max;
	double ratio, paired_ratio, extra_med, extra_min, extra_max;
	double paired_min, paired_max; /* spread of the per-pair ratios */
	bool met;
};

struct bench_run {
	const struct bench_options *opt;
	struct bench_result results[BENCH_MAX_RESULTS];
	int nresults;
	/* tracing BPF programs other processes had loaded (the syscall
	 * figure counts them); -1 = not counted */
	int other_tracing_bpf_programs;
};

/* A new, zeroed result named `name` (printf-style), or NULL when the run
 * is full. */
struct bench_result *bench_result_add(struct bench_run *run, const char *fmt,
				      ...)
	__attribute__((format(printf, 2, 3)));

/* The repetitions to run: 1 with --smoke, else --reps, else dflt. */
int bench_reps(const struct bench_options *o, int dflt);

/* One repetition of a figure or of its floor: the cost per operation, or a
 * negative value on failure (then r->error may already say why). */
typedef double (*bench_rep_fn)(void *arg);

/* n repetitions of fig and of floor, interleaved, the order flipped every
 * repetition (A B, B A, ...) so drift hits both alike. 0, or -1 with
 * r->error set. */
int bench_interleave(struct bench_result *r, int n, bench_rep_fn fig,
		     void *fig_arg, bench_rep_fn floor, void *floor_arg);

/* The median of v[0..n) (NAN if n is 0). */
double bench_median(const double *v, int n);

/* Add a reported value to r (at most 4). */
void bench_metric(struct bench_result *r, const char *name, double value);

/* Statistics, ratio and goal of every result. */
void bench_finish(struct bench_run *run);
/* The table, notes and missed goals on stdout. */
void bench_print_markdown(const struct bench_run *run, double wall_s);
/* The JSON file (written as PATH.tmp, then renamed); 0 or -1. */
int bench_write_json(const struct bench_run *run, const char *path,
		     double wall_s);

/* ---- small helpers ------------------------------------------------------ */

/* fig_exstress.c: r fails if an fd count moved while acc sampled (a
 * figure of exstress's cycle must not time a leak); what: "under fixed" */
struct exs_verdict_acc;
void bench_fds_steady(const struct exs_verdict_acc *acc,
		      struct bench_result *r, const char *what);
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bench_ncpus(void);
/* --only: is a result with this name selected? "family/variant" is also
 * selected by its family's name. */
bool bench_selected(const struct bench_options *o, const char *name);

/* A root task that returns at once. */
extern const struct rex_task_vtable bench_empty_task;

/* ---- the floor executor (floor_executor.c) -------------------------------- */

/* The least an executor of heap-allocated, cross-thread-wakeable tasks
 * does per spawn and per wake: the floor of spawn_complete and local_wake.
 * One thread runs it; floor_wake_by_ref works from any thread while the
 * executor exists. */
struct floor_executor;
struct floor_task;
struct floor_context {
	struct floor_executor *ex;
	struct floor_task *task; /* the task being polled (its waker) */
};
struct floor_task_vtable {
	enum rex_poll (*poll)(void *state, struct floor_context *cx);
	void (*drop)(void *state); /* may be NULL */
};
int floor_executor_new(struct floor_executor **out); /* 0 or -1 */
void floor_executor_free(struct floor_executor *ex);
/* state (size bytes) is copied next to the header; 0 or -1 (no memory). */
int floor_spawn(struct floor_executor *ex, const struct floor_task_vtable *vt,
		const void *state, size_t size);
void floor_wake_by_ref(struct floor_task *t);
/* Poll tasks until none is runnable. */
void floor_run(struct floor_executor *ex);

/* ---- librex's measurements, also per drop policy (fig_policies.c) ---------- */

/* Each takes the drop policy of the executors it makes (0: fixed). */
struct bench_cycle_arg { /* executor new + run empty root + free */
	unsigned long long n;
	enum rex_drop_policy policy;
};
struct bench_rate_arg { /* spawn_complete, local_wake */
	unsigned long long n;
	enum rex_drop_policy policy;
};
struct bench_pingpong_arg { /* a round trip between executors on 2 threads */
	unsigned long long n, warm;
	int cpu_a, cpu_b;
	enum rex_drop_policy policy;
};
double bench_rep_rex_cycle(void *arg);	  /* thread CPU ns per cycle */
double bench_rep_rex_wake(void *arg);	  /* thread CPU ns per local wake */
double bench_rep_rex_pingpong(void *arg); /* wall ns per round trip */

/* ---- figures -------------------------------------------------------------- */

struct bench_figure {
	const char *name;
	/* The results a family adds are named "name/variant": variant(i) for
	 * i = 0, 1, ... until NULL. NULL: one result, named `name`. */
	const char *(*variant)(unsigned i);
	/* Single-threaded code: run pinned to the last CPU. Otherwise the
	 * figure runs with every CPU allowed and pins its own threads. */
	bool pinned;
	/* Measure and add the results (with r->error set when a figure
	 * could not be measured); a family measures only the variants
	 * bench_selected() says --only asked for. */
	void (*run)(struct bench_run *run);
};

/* In the order they run. */
#define BENCH_FIGURES(X)            \
	X(executor_cycle)           \
	X(executor_cycle_thread)    \
	X(spawn_complete)           \
	X(local_wake)               \
	X(foreign_pingpong)         \
	X(policy)                   \
	X(exstress_issue448)        \
	X(exstress_heap_check)      \
	X(exstress_iteration)       \
	X(exstress_runtime)         \
	X(fdtrack_syscall_overhead) \
	X(fdtrack_open_close)       \
	X(fdtrack_startup)          \
	X(fdtrack_libuv)            \
	X(fdtrack_burst)

#define BENCH_DECLARE_FIGURE(name) \
	extern const struct bench_figure bench_fig_##name;
BENCH_FIGURES(BENCH_DECLARE_FIGURE)
#undef BENCH_DECLARE_FIGURE

#endif /* BENCH_H */
