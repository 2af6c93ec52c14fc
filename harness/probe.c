/* The fdtrack probe: exstress watches its own pid. Built without fdtrack
 * (EXS_NO_FDTRACK) it always reports itself unavailable. */
#include "exstress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef EXS_NO_FDTRACK
#include "fdtrack.h"
#include <elfutils/libdwfl.h>

struct exs_probe {
	struct fdtrack *t;
	uint64_t runs_missed; /* as of the last reconcile */
};

int exs_probe_open(enum exs_probe_mode mode, struct exs_probe **out, char *why,
		   size_t whylen)
{
	*out = NULL;
	if (whylen)
		why[0] = '\0';
	if (mode == EXS_PROBE_OFF) {
		snprintf(why, whylen, "disabled with --probe off");
		return 0;
	}
	struct exs_probe *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(why, whylen, "out of memory");
		return mode == EXS_PROBE_REQUIRE ? -1 : 0;
	}
	/* Every fd kind, with stacks. The fd table sized to what this process
	 * can hold (its hard RLIMIT_NOFILE: it never raises it) rather than to
	 * the largest any process could (/proc/sys/fs/nr_open): a smaller map
	 * to allocate at start-up. */
	struct fdtrack_options opts = { .ringbuf_bytes = 0,
					.want_stacks = 1,
					.frame_pointers_only = 1 };
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < (1u << 26))
		opts.max_fds = (unsigned)rl.rlim_max;
	int rc = fdtrack_open(getpid(), &opts, &p->t);
	if (rc) {
		snprintf(why, whylen, "%s", fdtrack_error());
		free(p);
		/* auto goes on without the probe only where BPF is not
		 * permitted; a kernel that rejects it is an error */
		return mode == EXS_PROBE_REQUIRE || rc != -EPERM ? -1 : 0;
	}
	*out = p;
	return 0;
}

static void copy_counts(const struct fdtrack_counts *c, struct exs_sample *s)
{
	s->bpf.fds_not_tracked = c->fds_full;
	for (int k = 0; k < FDKIND_COUNT; k++) {
		s->bpf.opens[k] = c->opens[k];
		s->bpf.closes[k] = c->closes[k];
		s->bpf.live[k] = c->live[k];
		s->bpf.closed_outside_syscalls[k] =
			c->closed_outside_syscalls[k];
		s->bpf.opened_outside_syscalls[k] =
			c->opened_outside_syscalls[k];
	}
	s->bpf.lost = c->lost_events;
	s->has_bpf = 1;
}

/* At a boundary fdtrack's counters are exact from the events alone
 * (fdtrack.h), so the task_file snapshot (the expensive part) runs only
 * when asked to, or when the event view's live counts disagree with the
 * /proc counts just sampled into s->fds. */
int exs_probe_sample(struct exs_probe *p, struct exs_sample *s, int reconcile)
{
	struct fdtrack_counts c;
	int rc = fdtrack_poll(p->t, 0);
	if (rc)
		return rc;
	fdtrack_counts(p->t, &c);
	if (!reconcile)
		for (int k = 0; k < FDKIND_COUNT; k++)
			if ((int64_t)c.live[k] != s->fds[k])
				reconcile = 1;
	s->bpf.reconciled = 0;
	if (reconcile) {
		if ((rc = fdtrack_reconcile(p->t)))
			return rc;
		fdtrack_counts(p->t, &c);
		s->bpf.reconciled = 1;
		/* a few syscalls: read where the reconcile's cost dwarfs them */
		p->runs_missed = fdtrack_runs_missed(p->t);
	}
	copy_counts(&c, s);
	s->bpf.runs_missed = p->runs_missed;
	return 0;
}

void exs_probe_print_live(struct exs_probe *p, FILE *out, uint64_t mask)
{
	struct fdtrack_group *g = NULL;
	size_t n = 0, shown = 0;
	if (fdtrack_live_groups(p->t, &g, &n) != 0) {
		fprintf(out, "  (fdtrack could not list live fds: %s)\n",
			fdtrack_error());
		return;
	}
	/* the groups of the leaking kinds; fds open since before fdtrack
	 * attached (exstress's own stdio, its sampler) are no news */
	for (size_t i = 0; i < n; i++) {
		if (g[i].at_start || !(mask & FDKIND_MASK(g[i].kind)))
			continue;
		fdtrack_print_groups(out, &g[i], 1);
		shown++;
	}
	if (!shown)
		fprintf(out,
			"  fdtrack: no live fd of those kinds opened since it attached\n");
	fdtrack_groups_free(g, n);
}

void exs_probe_close(struct exs_probe *p)
{
	if (!p)
		return;
	fdtrack_close(p->t);
	free(p);
}

/* Temporary: libdw directly, until fdtrack's library exports its
 * symboliser for any address of a live process. */
static Dwfl *self_dwfl;

static const Dwfl_Callbacks self_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

int exs_symbolize(const void *addr, char *buf, size_t len)
{
	if (!self_dwfl) {
		self_dwfl = dwfl_begin(&self_callbacks);
		if (!self_dwfl)
			return -1;
		dwfl_report_begin(self_dwfl);
		dwfl_linux_proc_report(self_dwfl, getpid());
		dwfl_report_end(self_dwfl, NULL, NULL);
	}
	Dwarf_Addr pc = (Dwarf_Addr)(uintptr_t)addr -
			1; /* the call, not the return */
	Dwfl_Module *mod = dwfl_addrmodule(self_dwfl, pc);
	if (!mod)
		return -1;
	const char *fn = dwfl_module_addrname(mod, pc);
	Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
	int lineno = 0;
	const char *src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL,
					       NULL)
			       : NULL;
	const char *modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL,
					       NULL, NULL, NULL);
	if (src && strrchr(src, '/'))
		src = strrchr(src, '/') + 1;
	if (modname && strrchr(modname, '/'))
		modname = strrchr(modname, '/') + 1;
	if (fn && src && lineno > 0)
		snprintf(buf, len, "%s (%s:%d)", fn, src, lineno);
	else if (fn)
		snprintf(buf, len, "%s (%s)", fn, modname ? modname : "?");
	else
		snprintf(buf, len, "%p (%s)", addr, modname ? modname : "?");
	return 0;
}

#else /* EXS_NO_FDTRACK */

int exs_symbolize(const void *addr, char *buf, size_t len)
{
	snprintf(buf, len, "%p", addr);
	return 0;
}

struct exs_probe {
	int unused;
};

int exs_probe_open(enum exs_probe_mode mode, struct exs_probe **out, char *why,
		   size_t whylen)
{
	*out = NULL;
	snprintf(why, whylen,
		 mode == EXS_PROBE_OFF
			 ? "disabled with --probe off"
			 : "this exstress was built without fdtrack");
	return mode == EXS_PROBE_REQUIRE ? -1 : 0;
}

int exs_probe_sample(struct exs_probe *p, struct exs_sample *s, int reconcile)
{
	(void)p;
	(void)s;
	(void)reconcile;
	return -ENOSYS;
}

void exs_probe_print_live(struct exs_probe *p, FILE *out, uint64_t mask)
{
	(void)p;
	(void)out;
	(void)mask;
}

void exs_probe_close(struct exs_probe *p)
{
	(void)p;
}
#endif
