/*
 * exstress: create and destroy rex executors thousands of times, sample the
 * process's fds and memory after every iteration, and say with an exit code
 * whether anything grew. See harness/README.md and docs/design.md §5.
 *
 * The pieces are separate so they can be tested alone: the /proc sampler,
 * the statistics and verdict, option parsing, the CSV/JSON/JUnit writers,
 * the scenarios (the only part that needs librex) and the fdtrack probe.
 */
#ifndef EXSTRESS_H
#define EXSTRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fdkind.h"
#include "outfile.h"

#include "rex.h" /* enum rex_drop_policy, rex_policy_name/parse */

/* Exit codes. */
enum {
	EXS_EXIT_PASS = 0,
	EXS_EXIT_LEAK = 1,
	EXS_EXIT_USAGE = 2
};

/* ---- samples ---------------------------------------------------------- */

/* fds are counted per kind of common/fdkind.h (fdtrack's kinds, by the
 * same names): fds[FDKIND_EVENTFD], ... */

/* A /proc/self/fd entry name: the fd number, or -1 for anything that is
 * not a plain decimal int ("." and "..", junk, overflow). */
int exs_fd_name_parse(const char *name);
/* /proc/self/statm text (len bytes, need not be NUL-terminated): the first
 * two fields (size, resident, in pages) times page_size. 0, or -EPROTO on
 * anything malformed or overflowing. */
int exs_statm_parse(const char *buf, size_t len, uint64_t page_size,
		    uint64_t *vsz, uint64_t *rss);

enum exs_phase {
	EXS_PHASE_BASELINE,
	EXS_PHASE_WARMUP,
	EXS_PHASE_MEASURE
};
const char *exs_phase_name(enum exs_phase phase);

/* fdtrack's counts, per fd kind. */
struct exs_bpf_counts {
	uint64_t opens[FDKIND_COUNT];
	uint64_t closes[FDKIND_COUNT];
	uint64_t live[FDKIND_COUNT];
	uint64_t closed_outside_syscalls[FDKIND_COUNT];
	/* fdtrack: fds opened/closed by nothing it models as a syscall
	 * (IORING_OP_OPENAT/CLOSE) or by one still in flight; exstress opens
	 * and closes eventfds and io_urings only by syscalls, so for those two
	 * both are 0 at every boundary (fdtrack.h). */
	uint64_t opened_outside_syscalls[FDKIND_COUNT];
	uint64_t lost;
	uint64_t fds_not_tracked; /* fdtrack's fd table was full (not exact) */
	int reconciled; /* fdtrack_reconcile() ran at this boundary: live
			  * is then exact against /proc */
	/* runs of fdtrack's programs the kernel skipped since it attached
	 * (fdtrack_runs_missed(): a preemptible kernel, design §4.1b), as of
	 * the last reconciled sample: each may have hidden one open or
	 * close from the counts above */
	uint64_t runs_missed;
};

struct exs_sample {
	uint64_t iteration; /* 0 = before the first iteration */
	enum exs_phase phase;
	double elapsed_ms; /* since the scenario started */
	int64_t fds[FDKIND_COUNT];
	uint64_t vsz_bytes;
	uint64_t rss_bytes;
	int has_heap;	     /* heap_* are valid (heap.c) */
	int64_t heap_bytes;  /* usable bytes of live allocations */
	int64_t heap_allocs; /* live allocations */
	int has_bpf;	     /* bpf is valid */
	struct exs_bpf_counts bpf;
};

/* ---- sampler (/proc/self) ---------------------------------------------- */

/* Keeps /proc/self/fd and /proc/self/statm open so a sample costs one
 * getdents64 pass, one readlinkat per fd and one pread. Its own two fds
 * (a dir and a file) are counted like any: they are constant, and fdtrack,
 * which sees every fd of the process, counts them too. */
struct exs_sampler {
	int dir_fd;
	int statm_fd;
	uint64_t page_size;
};
int exs_sampler_open(struct exs_sampler *s); /* 0 or -errno */
/* Fills fds, vsz_bytes, rss_bytes; leaves the other fields alone. */
int exs_sampler_read(struct exs_sampler *s, struct exs_sample *out);
void exs_sampler_close(struct exs_sampler *s);

/* ---- statistics and verdict --------------------------------------------- */

/* Least-squares slope of y over x; 0 when n < 2 or x is constant. */
double exs_slope(const double *x, const double *y, size_t n);

struct exs_limits {
	double vsz_slope; /* bytes per iteration */
	double rss_slope;
	double vsz_growth; /* bytes, last sample minus reference */
	double rss_growth;
	/* A slope fails only once memory grew (last - reference) by more
	 * than this: in short runs a one-off page-in of a few pages is a
	 * steep slope that is no trend. */
	double slope_floor;
};
void exs_limits_default(struct exs_limits *l);

#define EXS_MAX_CHECKS 64
struct exs_check {
	char name[48];
	int pass;
	double value;
	double limit;
};

struct exs_verdict {
	int leak;	     /* some check failed */
	uint64_t iterations; /* measured samples after the reference */
	uint64_t ref_iteration;
	int64_t fd_growth[FDKIND_COUNT];  /* last minus reference */
	int64_t fd_max_dev[FDKIND_COUNT]; /* largest |sample - reference| */
	uint64_t fd_first[FDKIND_COUNT]; /* first iteration != reference; 0 none */
	double fd_per_iter[FDKIND_COUNT]; /* growth / iterations */
	double vsz_slope, rss_slope;	  /* bytes per iteration */
	double vsz_growth, rss_growth;	  /* bytes */
	/* the heap (exact: every deviation from the reference fails) */
	int has_heap;
	int64_t heap_growth_bytes,
		heap_growth_allocs; /* last minus reference */
	double heap_bytes_per_iter, heap_allocs_per_iter;
	int64_t heap_max_dev_bytes,
		heap_max_dev_allocs; /* largest |sample - ref| */
	uint64_t heap_first;	     /* first iteration != ref */
	int has_bpf;
	/* opens + opened outside - closes - closed outside, over the window */
	int64_t bpf_unbalanced[FDKIND_COUNT];
	/* largest |fdtrack live - /proc count| over the reconciled samples */
	int64_t bpf_live_max_dev[FDKIND_COUNT];
	uint64_t bpf_live_first[FDKIND_COUNT]; /* first such iteration; 0 none */
	/* largest closed + opened outside syscalls (absolute) at any sample:
	 * 0 unless fdtrack mis-files something */
	int64_t bpf_outside_syscalls_max[FDKIND_COUNT];
	uint64_t bpf_reconciled; /* samples that reconciled */
	int64_t bpf_opens[FDKIND_COUNT];
	int64_t bpf_closes[FDKIND_COUNT];
	int64_t bpf_closed_outside_syscalls[FDKIND_COUNT];
	int64_t bpf_opened_outside_syscalls[FDKIND_COUNT];
	int64_t bpf_live_growth[FDKIND_COUNT];
	uint64_t bpf_lost;
	uint64_t bpf_not_exact; /* fds fdtrack could not track (table full) */
	/* runs the kernel skipped (exs_bpf_counts.runs_missed): when not 0,
	 * each bpf_* check may be off by up to this many, its limit */
	uint64_t bpf_runs_missed;
	size_t nchecks;
	struct exs_check checks[EXS_MAX_CHECKS];
};

/* The verdict is a fold over the samples, so a run keeps none of them:
 * exstress's own memory stays flat however long it runs (an array of every
 * sample grew during long runs and showed up as the very growth we measure).
 * begin() with the reference (the sample right after warm-up), add() each
 * measured sample in order, end() to get the checks. */
struct exs_verdict_acc {
	struct exs_sample ref, last;
	uint64_t n;	     /* samples, the reference included */
	uint64_t kinds_seen; /* FDKIND_MASK of kinds held at a sample */
	int64_t heap_max_dev_bytes, heap_max_dev_allocs;
	uint64_t heap_first;
	int64_t fd_max_dev[FDKIND_COUNT];
	uint64_t fd_first[FDKIND_COUNT];
	uint64_t bpf_reconciled;
	uint64_t bpf_runs_missed; /* the largest of the samples' */
	int64_t bpf_outside_syscalls_max[FDKIND_COUNT];
	int64_t bpf_live_max_dev[FDKIND_COUNT];
	uint64_t bpf_live_first[FDKIND_COUNT];
	/* least squares of VSZ and RSS against the iteration, updated online
	 * (Welford): means and centred sums of products */
	double mean_x, mean_vsz, mean_rss, sxx, sx_vsz, sx_rss;
};
void exs_verdict_begin(struct exs_verdict_acc *a, const struct exs_sample *ref);
void exs_verdict_add(struct exs_verdict_acc *a, const struct exs_sample *s);
void exs_verdict_end(const struct exs_verdict_acc *a,
		     const struct exs_limits *lim, struct exs_verdict *v);

/* The same over an array: s[0] is the reference, s[1..n-1] the measured
 * ones. Returns 0, or -EINVAL when n == 0. */
int exs_verdict_compute(const struct exs_sample *s, size_t n,
			const struct exs_limits *lim, struct exs_verdict *v);
/* One line naming what leaked, e.g. "eventfd +2.00/iter from iteration 51;
 * VSZ slope 13.1 KiB/iter > 1.0 KiB". Empty string when nothing leaked. */
void exs_verdict_summary(const struct exs_verdict *v, char *buf, size_t len);
/* The multi-line report for a person (no fdtrack stacks). */
void exs_verdict_print(FILE *out, const struct exs_verdict *v);

/* ---- options ----------------------------------------------------------- */

enum exs_scenario {
	EXS_SC_IDLE,
	EXS_SC_ISSUE448,
	EXS_SC_TIMERS,
	EXS_SC_IO,
	EXS_SC_JOINS,
	EXS_SC_FOREIGN_WAKERS,
	EXS_SC_SPAWN_IN_DROP,
	EXS_SC_MIXED,
	/* 0 .. EXS_SC_IN_ALL - 1 make up `all`: the ones that drop executors */
	EXS_SC_IN_ALL,
	/* The seed's workarounds: issue448's work on executors that are not
	 * dropped per iteration (one created up front per thread and reused;
	 * one created by each thread on first use and kept) */
	EXS_SC_LONG_LIVED = EXS_SC_IN_ALL,
	EXS_SC_THREAD_LOCAL,
	EXS_SC_COUNT,
	EXS_SC_ALL = EXS_SC_COUNT,
};
const char *exs_scenario_name(enum exs_scenario sc);
int exs_scenario_parse(const char *name, enum exs_scenario *out); /* 0/-1 */

enum exs_probe_mode {
	EXS_PROBE_AUTO,
	EXS_PROBE_REQUIRE,
	EXS_PROBE_OFF
};

/* Which measured iterations record the call stack of every allocation:
 * the first and the last EXS_HEAP_WINDOW (cheap), every one (slow), none. */
enum exs_heap_stacks {
	EXS_HEAP_STACKS_WINDOW,
	EXS_HEAP_STACKS_ALL,
	EXS_HEAP_STACKS_OFF
};
#define EXS_HEAP_WINDOW 32

struct exs_options {
	/* --runtime: NULL or "rex" (the scenario runner), a built-in
	 * adapter's name (libuv, libevent, glib, tokio) or a plugin's path
	 * (harness/adapter.h); --teardown: enum exs_teardown, for adapters */
	const char *runtime;
	int teardown;
	int teardown_set, policy_set, scenario_set; /* given */
	enum rex_drop_policy policy;
	enum exs_scenario scenario;
	uint64_t iterations; /* measured iterations per scenario */
	int iterations_set;  /* given on the command line */
	uint64_t warmup;
	double duration_s;     /* > 0: run each scenario this long instead */
	uint64_t sample_every; /* CSV rows: every Nth iteration (+ baseline,
				 * reference and last); the verdict uses all */
	unsigned executors;
	unsigned tasks;
	enum exs_probe_mode probe;
	const char *csv_path, *json_path, *junit_path;
	uint64_t seed;
	int quiet;
	int verbose; /* fd census at start and exit, on stderr */
	int heap;    /* exact heap accounting and its checks */
	enum exs_heap_stacks heap_stacks;
	struct exs_limits limits;
	int limits_set; /* a --*-limit or --slope-floor was given */
};

/* Sanitizer builds: their allocators, shadow memory and thread registries
 * grow by themselves (~1-4 KiB per iteration measured under ASan), so the
 * default memory limits are off there; fd and fdtrack checks stay exact. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EXS_SANITIZED 1
#else
#define EXS_SANITIZED 0
#endif
void exs_limits_unsanitized(struct exs_limits *l); /* memory limits off */

void exs_options_default(struct exs_options *o);
/* --runtime is rex (given or not). */
int exs_runtime_is_rex(const struct exs_options *o);
enum {
	EXS_ARGS_OK = 0,
	EXS_ARGS_HELP = 1,
	EXS_ARGS_VERSION = 2, /* --version: main prints it */
	EXS_ARGS_ERROR = -1
};
/* Fills o (defaults first). On EXS_ARGS_ERROR, err holds one line. */
int exs_parse_args(int argc, char **argv, struct exs_options *o, char *err,
		   size_t errlen);
void exs_usage(FILE *out);

/* ---- writers ------------------------------------------------------------ */

/* Output files (CSV, JSON, JUnit) are common/outfile.h's: a regular file
 * is written as FILE.tmp-XXXXXX beside it and renamed over it when the run
 * is over (a partial file never sits under its name), anything else (a
 * device, a FIFO, "-", /dev/stdout) is written in place; opening refuses
 * what cannot be written, so a bad path fails before anything runs. */

/* CSV: whole rows only, written with one write() each time the buffer
 * fills and at close. */
struct exs_csv {
	struct outfile out;
	size_t used;
	char buf[1 << 16];
};
const char *exs_csv_header(void); /* the header line, "\n" included */
/* NULL with why (one phrase) when path cannot be written. */
struct exs_csv *exs_csv_open(const char *path, char *why, size_t whylen);
int exs_csv_row(struct exs_csv *c, const char *scenario, const char *policy,
		const struct exs_sample *s);
/* Flushes and puts the file in place; 0 or -errno (why says what failed,
 * and where the finished file is if it could not take its name). */
int exs_csv_close(struct exs_csv *c, char *why, size_t whylen);
void exs_csv_abort(struct exs_csv *c); /* removes the temporary file */
/* Format one row (with the newline) into buf; returns its length, or -1 if
 * it does not fit. */
int exs_csv_format(char *buf, size_t len, const char *scenario,
		   const char *policy, const struct exs_sample *s);

struct exs_result {
	enum exs_scenario scenario;
	struct exs_verdict v;
	double elapsed_s;
	double parked_per_iter; /* tasks still live when executors were freed */
	/* what the teardowns of the measured iterations did (librex's
	 * rex_teardown_totals): tasks destroyed, tasks left, bytes left */
	uint64_t tasks_destroyed, tasks_left, bytes_left;
	char note[640];	  /* e.g. "stopped early: ..."; may be empty */
	int interrupted;  /* stopped by a signal */
	int stopped_hard; /* a second signal: written mid-iteration */
	int warmup_leak;  /* fds ran out during the warm-up, leaked by it */
	int no_verdict;	  /* stopped before any measured iteration */
	int not_run;	  /* never started: note says why */
};
struct exs_run_info {
	const char *scenario; /* the requested one, e.g. "all" */
	const char *policy;
	const char *probe; /* "bpf" or "proc-only" */
	const char *heap;  /* "exact", "off", or why it is not available */
	uint64_t seed;
	unsigned executors, tasks;
	uint64_t warmup;
	double elapsed_s;
	const struct exs_limits *limits;
	int interrupted;      /* signal number that stopped the run, or 0 */
	int stopped_outright; /* a second signal (or the grace time) ended
				 it mid-iteration */
};
int exs_json_write(FILE *out, const struct exs_run_info *info,
		   const struct exs_result *r, size_t n);
int exs_junit_write(FILE *out, const struct exs_run_info *info,
		    const struct exs_result *r, size_t n);

/* ---- scenarios (librex) ------------------------------------------------- */

struct exs_runner;
struct exs_runner_config {
	enum rex_drop_policy policy;
	unsigned executors;
	unsigned tasks;
	uint64_t seed;
};
/* Resources that live for the whole run (a pipe, a FIFO, the waker
 * thread). Returns 0 or -errno; *what says what failed. */
int exs_runner_new(const struct exs_runner_config *cfg, struct exs_runner **out,
		   const char **what);
/* One iteration: create the executors on their threads, park tasks, tear
 * down, join. Returns 0 or -errno; on error, msg holds one line. */
int exs_runner_iteration(struct exs_runner *r, enum exs_scenario sc,
			 uint64_t iteration, char *msg, size_t msglen);
/* Tasks left live (parked) in the executors when their roots finished,
 * summed since the last call; proves a scenario parks what it says. */
uint64_t exs_runner_take_parked(struct exs_runner *r);
void exs_runner_free(struct exs_runner *r);

/* ---- fdtrack probe ------------------------------------------------------- */

struct exs_probe;
/* mode AUTO: on failure *out = NULL, why says why, returns 0.
 * REQUIRE: returns -1 with why set. OFF: *out = NULL, returns 0. */
int exs_probe_open(enum exs_probe_mode mode, struct exs_probe **out, char *why,
		   size_t whylen);
/* Reads fdtrack's counters into s->bpf (s->fds must already hold the /proc
 * counts of the same boundary). Runs fdtrack_reconcile() (the task_file
 * snapshot) when reconcile is set or when fdtrack's live counts differ from
 * s->fds; s->bpf.reconciled says whether it did. 0 or -errno. */
int exs_probe_sample(struct exs_probe *p, struct exs_sample *s, int reconcile);
/* "function (file:line)" of a code address of this process, for the heap
 * report; 0, or -1 for an address in no executable mapping (the end of a
 * stack). Needs no probe. */
int exs_symbolize(const void *addr, char *buf, size_t len);
/* Print the live fds of the kinds in mask (FDKIND_MASK) that were opened
 * after fdtrack attached, grouped by opening stack. */
void exs_probe_print_live(struct exs_probe *p, FILE *out, uint64_t mask);
void exs_probe_close(struct exs_probe *p);

/* ---- heap accounting (heap.c) --------------------------------------------- */

/* exstress defines malloc & co. itself (passing them on to glibc), so it
 * knows the live heap of the whole process exactly. Not in sanitizer
 * builds: their runtimes own malloc. */
struct exs_heap_counts {
	int64_t bytes;	    /* usable bytes of live allocations */
	int64_t allocs;	    /* live allocations */
	uint64_t untracked; /* exs_heap_sites: allocations the table missed */
};
/* on = 0: count nothing (the bench's baseline). track_sites: allow
 * exs_heap_track. 0, or -ENOTSUP when this build cannot count. */
int exs_heap_init(int on, int track_sites);
void exs_heap_read(struct exs_heap_counts *c);
/* Record the call stack of each allocation from now (on) or stop. */
void exs_heap_track(int on);
/* Forget every tracked allocation (a new scenario starts). */
void exs_heap_track_reset(void);

#define EXS_HEAP_FRAMES 12
struct exs_heap_site {
	uint64_t bytes, count; /* tracked allocations still live */
	unsigned nframes;
	void *frames[EXS_HEAP_FRAMES]; /* [0]: the caller of malloc & co. */
};
/* Tracked allocations still live, grouped by call stack, most bytes
 * first; *left: their totals. Stops tracking. */
int exs_heap_sites(struct exs_heap_site **sites, size_t *n,
		   struct exs_heap_counts *left);
void exs_heap_sites_free(struct exs_heap_site *sites, size_t n);

/* ---- test-only faults (test_faults.c) ----------------------------------- */

/* Read EXS_TEST_FAULT: 0, or -1 after printing why it is malformed. */
int exs_test_fault_init(void);
/* After iteration i: leak what EXS_TEST_FAULT asks for. */
void exs_test_fault_inject(uint64_t iteration);

/* ---- small helpers ------------------------------------------------------- */

/* "1.5 KiB", "-3.0 MiB", "12 B" */
void exs_fmt_bytes(double bytes, char *buf, size_t len);

#endif /* EXSTRESS_H */
