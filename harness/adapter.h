/*
 * exstress's adapter interface: what an event-loop runtime hands exstress
 * so that exstress can create and tear down its loops thousands of times
 * and say, with the same sampling, heap accounting, verdicts and outputs
 * as for rex, whether anything leaked. The contract is docs/design.md
 * §5.3; the built-in adapters are in harness/adapters/, an example plugin
 * in examples/.
 *
 * A plugin (exstress --runtime PATH.so) defines one object:
 *
 *	const struct exs_adapter exs_adapter = { .abi = EXS_ADAPTER_ABI, ... };
 *
 * exstress refuses (exit 2) a plugin whose abi differs from its own.
 *
 * One iteration, for each of K loops (--executors), on a thread of its own:
 *	loop = loop_new(env)		create the loop
 *	park(loop, kind) x plan		register tasks that will not complete
 *	(the main thread: wake(loop), when the plan has EXS_PARK_WAKE)
 *	turn(loop)			one non-blocking turn of the loop
 *	teardown(loop, how)		with every task still parked
 * then the threads are joined and exstress samples the process.
 *
 * Self-contained on purpose (C11, stdint only), so a plugin needs nothing
 * else of exstress to build.
 */
#ifndef EXS_ADAPTER_H
#define EXS_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever struct exs_adapter or its contract changes. */
#define EXS_ADAPTER_ABI 1
/* The name of the object a plugin defines. */
#define EXS_ADAPTER_SYMBOL "exs_adapter"

/* Kinds of parked task. Each is registered with the loop and never
 * completes by itself, so it is still parked when the loop is torn down. */
enum exs_park {
	EXS_PARK_TIMER, /* a timer an hour away */
	EXS_PARK_FD,	/* readiness of env->idle_fd (a pipe nobody writes) */
	EXS_PARK_WAKE,	/* a cross-thread wake handle (async handle, user
			 * event): exstress's main thread calls wake() once
			 * between park and turn, the turn runs its callback,
			 * and the handle stays registered */
	EXS_PARK_QUEUE, /* a receiver on a channel or queue nobody sends to */
	EXS_PARK_COUNT
};
#define EXS_PARK_MASK(kind) (1u << (kind))

enum exs_teardown {
	EXS_TEARDOWN_CORRECT,  /* the runtime's documented teardown */
	EXS_TEARDOWN_CARELESS, /* a mistake people make (see .careless) */
};

/* What exstress hands each loop. */
struct exs_loop_env {
	int idle_fd;	/* the read end of a pipe nobody writes; exstress's,
			 * never to be closed (dup it to own one) */
	unsigned index; /* which loop of the iteration, 0..K-1 */
};

struct exs_adapter {
	uint32_t abi;	      /* EXS_ADAPTER_ABI */
	const char *name;     /* e.g. "libuv": labels, reports, outputs */
	const char *correct;  /* one line: the teardown it calls */
	const char *careless; /* one line: the mistake and where people
			       * report it (docs, issue tracker) */
	uint32_t kinds;	      /* EXS_PARK_MASK() of each kind it offers */

	/* Once per process, before the first loop; NULL if nothing to do.
	 * 0, or -errno with msg saying why (exit 2). */
	int (*init)(char *msg, size_t len);
	/* On the loop's thread. NULL with *err = -errno on failure. */
	void *(*loop_new)(const struct exs_loop_env *env, int *err);
	/* On the loop's thread: one task of the kind (a kind it offers).
	 * 0 or -errno. */
	int (*park)(void *loop, enum exs_park kind);
	/* On exstress's main thread while the loop's thread waits: wake
	 * every EXS_PARK_WAKE handle parked in loop. NULL if it offers none. */
	void (*wake)(void *loop);
	/* On the loop's thread: one turn that does not block (callbacks of
	 * what is ready, the wakes above among them). 0 or -errno. */
	int (*turn)(void *loop);
	/* On the loop's thread, with every task still parked; also after a
	 * park or turn failed. Correct: nothing of the loop may be left
	 * (fds, heap, threads). Careless: what the mistake leaves. */
	void (*teardown)(void *loop, enum exs_teardown how);
};

#endif /* EXS_ADAPTER_H */
