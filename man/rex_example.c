/* rex(3)'s example: a task left parked when its executor is freed. Under
 * the fixed policy its destructor runs and the executor's eventfd closes;
 * under legacy-448 (glommio issue 448) neither happens. */
#include <rex.h>
#include <stdio.h>
#include <string.h>

static int dropped;

static enum rex_poll park_poll(void *state, struct rex_context *cx)
{
	(void)state;
	(void)cx;
	return REX_PENDING; /* nothing will ever wake it */
}

static void park_drop(void *state)
{
	(void)state;
	dropped++;
}

static const struct rex_task_vtable park = { "park", park_poll, park_drop };

struct root {
	struct rex_yield yield;
};

/* Spawn the parked task, let it run once, finish. */
static enum rex_poll root_poll(void *state, struct rex_context *cx)
{
	struct root *r = state;

	if (!r->yield.yielded) {
		cx->output = rex_spawn(cx->executor, &park, NULL, 0, NULL);
		if (cx->output)
			return REX_READY;
	}
	if (rex_yield_poll(&r->yield, cx) == REX_PENDING)
		return REX_PENDING;
	cx->output = 0;
	return REX_READY;
}

static const struct rex_task_vtable root = { "root", root_poll, NULL };

int main(int argc, char **argv)
{
	struct rex_config cfg;
	struct root r = { { 0 } };
	rex_executor *ex;
	int64_t out;
	int err;

	rex_config_init(&cfg);
	if (argc > 1 && rex_policy_parse(argv[1], &cfg.policy)) {
		fprintf(stderr, "rex_example: unknown policy '%s'\n", argv[1]);
		return 2;
	}
	err = rex_executor_new(&cfg, &ex);
	if (err) {
		fprintf(stderr, "rex_example: %s\n", strerror(-err));
		return 2;
	}
	err = rex_executor_run(ex, &root, &r, sizeof(r), &out);
	rex_executor_free(ex);
	if (err || out) {
		fprintf(stderr, "rex_example: %s\n", strerror(-(err ? err : out)));
		return 2;
	}
	printf("%s: parked tasks dropped: %d\n", rex_policy_name(cfg.policy),
	       dropped);
	return 0;
}
