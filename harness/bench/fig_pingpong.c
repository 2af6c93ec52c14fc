/*
 * foreign_pingpong: a round trip between executors on two threads over two
 * shared channels, beside two threads ping-ponging blocking eventfd
 * writes and reads (the kernel's cross-CPU wake-up, twice per round trip).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "clock.h"

/* One side of the ping-pong: the initiator sends then receives, the other
 * receives then sends. The initiator's output is the time of the n timed
 * round trips (after `warm` untimed ones), in ns. */
struct pp_side {
	rex_shared_tx *tx;
	rex_shared_rx *rx;
	unsigned long long n, warm, i;
	int initiator;
	int phase; /* 0: not connected, 1: send, 2: receive */
	uint64_t item, t0;
	struct rex_shared_send send;
	struct rex_shared_recv recv;
};

static enum rex_poll pp_poll(void *st, struct rex_context *cx)
{
	struct pp_side *p = st;
	int res;

	if (p->phase == 0) {
		if (rex_shared_tx_connect(p->tx) ||
		    rex_shared_rx_connect(p->rx)) {
			cx->output = -1;
			return REX_READY;
		}
		p->phase = p->initiator ? 1 : 2;
		if (p->phase == 1)
			rex_shared_send_init(&p->send, p->tx, &p->item);
		else
			rex_shared_recv_init(&p->recv, p->rx, &p->item);
	}
	for (;;) {
		if (p->phase == 1) {
			if (p->initiator && p->i == p->warm)
				p->t0 = mono_ns();
			if (rex_shared_send_poll(&p->send, cx, &res) ==
			    REX_PENDING)
				return REX_PENDING;
			if (res)
				goto fail;
			if (!p->initiator && ++p->i == p->n + p->warm)
				goto done;
			p->phase = 2;
			rex_shared_recv_init(&p->recv, p->rx, &p->item);
		} else {
			if (rex_shared_recv_poll(&p->recv, cx, &res) ==
			    REX_PENDING)
				return REX_PENDING;
			if (res)
				goto fail;
			if (p->initiator && ++p->i == p->n + p->warm)
				goto done;
			p->phase = 1;
			p->item++;
			rex_shared_send_init(&p->send, p->tx, &p->item);
		}
	}
done:
	cx->output = p->initiator ? (int64_t)(mono_ns() - p->t0) : 0;
	return REX_READY;
fail:
	cx->output = -1;
	return REX_READY;
}

static void pp_drop(void *st)
{
	struct pp_side *p = st;
	if (p->phase == 1)
		rex_shared_send_drop(&p->send);
	else if (p->phase == 2)
		rex_shared_recv_drop(&p->recv);
	rex_shared_tx_close(p->tx);
	rex_shared_rx_close(p->rx);
}
static const struct rex_task_vtable pp_vt = { "bench-pingpong", pp_poll,
					      pp_drop };

double bench_rep_rex_pingpong(void *arg)
{
	struct bench_pingpong_arg *a = arg;
	rex_shared_tx *tx_ab, *tx_ba;
	rex_shared_rx *rx_ab, *rx_ba;
	if (rex_shared_chan_new(sizeof(uint64_t), 1, &tx_ab, &rx_ab))
		return -1;
	if (rex_shared_chan_new(sizeof(uint64_t), 1, &tx_ba, &rx_ba)) {
		rex_shared_tx_close(tx_ab);
		rex_shared_rx_close(rx_ab);
		return -1;
	}
	struct pp_side sa = { .tx = tx_ab,
			      .rx = rx_ba,
			      .n = a->n,
			      .warm = a->warm,
			      .initiator = 1 };
	struct pp_side sb = {
		.tx = tx_ba, .rx = rx_ab, .n = a->n, .warm = a->warm
	};
	struct rex_config ca, cb;
	rex_config_init(&ca);
	rex_config_init(&cb);
	ca.cpu = a->cpu_a;
	cb.cpu = a->cpu_b;
	ca.policy = cb.policy = a->policy;
	rex_thread *ta, *tb;
	if (rex_thread_spawn(&cb, &pp_vt, &sb, sizeof(sb), &tb)) {
		pp_drop(&sa);
		pp_drop(&sb);
		return -1;
	}
	if (rex_thread_spawn(&ca, &pp_vt, &sa, sizeof(sa), &ta)) {
		pp_drop(&sa); /* sb closes its ends, tb then sees -EPIPE */
		rex_thread_join(tb, NULL);
		return -1;
	}
	int64_t oa = -1, ob = -1;
	int ea = rex_thread_join(ta, &oa);
	int eb = rex_thread_join(tb, &ob);
	if (ea || eb || oa <= 0 || ob != 0)
		return -1;
	return (double)oa / (double)a->n;
}

struct raw_pp {
	int efd_ab, efd_ba;
	unsigned long long n, warm;
	int cpu;
	int initiator;
	uint64_t elapsed;
	int err;
};

static void *raw_pp_thread(void *arg)
{
	struct raw_pp *p = arg;
	uint64_t v, t0 = 0;
	cpu_pin_self(p->cpu);
	for (unsigned long long i = 0; i < p->n + p->warm; i++) {
		if (p->initiator) {
			if (i == p->warm)
				t0 = mono_ns();
			if (eventfd_write(p->efd_ab, 1) ||
			    eventfd_read(p->efd_ba, &v))
				goto fail;
		} else {
			if (eventfd_read(p->efd_ab, &v) ||
			    eventfd_write(p->efd_ba, 1))
				goto fail;
		}
	}
	if (p->initiator)
		p->elapsed = mono_ns() - t0;
	return NULL;
fail:
	p->err = errno ? errno : EIO;
	return NULL;
}

static double rep_raw_pingpong(void *arg)
{
	struct bench_pingpong_arg *a = arg;
	double ret = -1;
	int ab = eventfd(0, EFD_CLOEXEC), ba = eventfd(0, EFD_CLOEXEC);
	if (ab < 0 || ba < 0)
		goto out;
	struct raw_pp pa = { ab, ba, a->n, a->warm, a->cpu_a, 1, 0, 0 };
	struct raw_pp pb = { ab, ba, a->n, a->warm, a->cpu_b, 0, 0, 0 };
	pthread_t ta, tb;
	if (pthread_create(&tb, NULL, raw_pp_thread, &pb))
		goto out;
	if (pthread_create(&ta, NULL, raw_pp_thread, &pa)) {
		pthread_cancel(tb);
		pthread_join(tb, NULL);
		goto out;
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (!pa.err && !pb.err)
		ret = (double)pa.elapsed / (double)a->n;
out:
	if (ab >= 0)
		close(ab);
	if (ba >= 0)
		close(ba);
	return ret;
}

static void run_foreign_pingpong(struct bench_run *run)
{
	bool smoke = run->opt->smoke;
	struct bench_result *r = bench_result_add(run, "foreign_pingpong");
	if (!r)
		return;
	r->unit = "ns/round-trip";
	r->clock = "wall";
	snprintf(r->what, sizeof(r->what),
		 "two executors on two threads (pinned to 2 CPUs), "
		 "a round trip over two shared channels");
	snprintf(
		r->floor_what, sizeof(r->floor_what),
		"two threads (same pinning) ping-ponging blocking eventfd write/read");
	r->goal_max_ratio = 1.5;
	struct bench_pingpong_arg a = { .n = smoke ? 500 : 5000,
					.warm = smoke ? 50 : 500,
					.cpu_a = 0,
					.cpu_b = bench_ncpus() > 1 ? 1 : 0 };
	r->count = a.n;
	bench_interleave(r, bench_reps(run->opt, 7), bench_rep_rex_pingpong, &a,
			 rep_raw_pingpong, &a);
}

const struct bench_figure bench_fig_foreign_pingpong = {
	.name = "foreign_pingpong",
	.run = run_foreign_pingpong,
};
