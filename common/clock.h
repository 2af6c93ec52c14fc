/*
 * Clocks and CPU pinning: the few lines every component needs, inline so
 * that librex stays one self-contained archive.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in nanoseconds / seconds. */
static inline uint64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline double mono_s(void)
{
	return (double)mono_ns() / 1e9;
}

/* CPU time of the calling thread, in nanoseconds. */
static inline uint64_t thread_cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* Pin the calling thread to one CPU. 0 or -errno (-EINVAL for a CPU this
 * machine does not have). */
static inline int cpu_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

#endif
