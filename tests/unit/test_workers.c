/* The worker pool: bounded queue, and fairness across lanes -- a lane
 * whose jobs hang cannot take every thread nor every queue slot. */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "unit.h"
#include "workers.h"

/* Jobs that start, then wait at a gate until the test opens it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static unsigned running[3], most_running[3], done[3];

static void gated_job(void *arg)
{
	unsigned lane = (unsigned)(size_t)arg;

	pthread_mutex_lock(&lock);
	running[lane]++;
	if (running[lane] > most_running[lane])
		most_running[lane] = running[lane];
	pthread_cond_broadcast(&changed);
	while (!gate_open)
		pthread_cond_wait(&changed, &lock);
	running[lane]--;
	done[lane]++;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

/* Waits until `*counter` reaches `want`; false after 10 s (a hang, not
 * a timing check: it never takes that long when the pool works). */
static bool wait_for(const unsigned *counter, unsigned want)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (*counter < want && ok)
		ok = pthread_cond_timedwait(&changed, &lock, &until) == 0 || *counter >= want;
	pthread_mutex_unlock(&lock);
	return ok;
}

static unsigned get(const unsigned *counter)
{
	unsigned v;

	pthread_mutex_lock(&lock);
	v = *counter;
	pthread_mutex_unlock(&lock);
	return v;
}

static void reset(void)
{
	pthread_mutex_lock(&lock);
	gate_open = false;
	for (int i = 0; i < 3; i++)
		running[i] = most_running[i] = done[i] = 0;
	pthread_mutex_unlock(&lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&lock);
	gate_open = true;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

/* 4 threads, queue 8, lanes 0..2: lane 1 hangs. It runs at most 3 jobs
 * and queues at most 6; lanes 0 and 2 still run at once. */
static void test_slow_lane_leaves_room(void)
{
	struct worker_pool *pool;
	unsigned accepted = 0;

	reset();
	CHECK(workers_create(4, 8, 3, &pool) == 0, "create");
	if (pool == NULL)
		return;
	CHECK(workers_lane_limit(pool) == 3, "lane limit %u", workers_lane_limit(pool));
	for (int i = 0; i < 20; i++)
		if (workers_submit(pool, 1, gated_job, (void *)1) == 0)
			accepted++;
	CHECK(wait_for(&running[1], 3), "lane 1 runs 3 jobs");
	/* Submitted faster than threads start: 6 may wait, 3 run. */
	CHECK(accepted >= 6 && accepted <= 9, "lane 1 accepted %u of 20", accepted);
	while (workers_submit(pool, 1, gated_job, (void *)1) == 0)
		accepted++;
	CHECK(accepted == 9, "lane 1 holds 3 running + 6 waiting, got %u", accepted);
	CHECK(workers_queued(pool) == 6, "queued %u", workers_queued(pool));

	CHECK(workers_submit(pool, 0, gated_job, (void *)0) == 0, "lane 0 accepted");
	CHECK(wait_for(&running[0], 1), "lane 0 runs beside the hanging lane");
	/* The last thread is taken; lane 2 waits in its share of the queue
	 * (the total of 8 leaves it 2), and runs first when a thread frees. */
	CHECK(workers_submit(pool, 2, gated_job, (void *)2) == 0, "lane 2 queued");
	CHECK(workers_submit(pool, 2, gated_job, (void *)2) == 0, "lane 2 queued twice");
	CHECK(workers_submit(pool, 2, gated_job, (void *)2) < 0, "the queue is full");
	CHECK(get(&running[1]) == 3, "lane 1 still at its limit");

	open_gate();
	CHECK(wait_for(&done[1], 9), "every lane 1 job ran");
	CHECK(wait_for(&done[2], 2), "every lane 2 job ran");
	CHECK(most_running[1] == 3, "lane 1 never ran more than 3 (%u)", most_running[1]);
	workers_destroy(&pool);
	CHECK(pool == NULL, "destroyed");
}

/* The waiting lane that runs the fewest jobs goes first: with lane 1
 * holding 2 threads and lane 2 none, lane 2's job runs before lane 1's
 * older waiting ones. */
static void test_fewest_running_first(void)
{
	struct worker_pool *pool;

	reset();
	CHECK(workers_create(3, 16, 3, &pool) == 0, "create");
	if (pool == NULL)
		return;
	for (int i = 0; i < 5; i++)
		CHECK(workers_submit(pool, 1, gated_job, (void *)1) == 0, "lane 1 job %d", i);
	CHECK(wait_for(&running[1], 2), "lane 1 takes its 2");
	CHECK(workers_submit(pool, 2, gated_job, (void *)2) == 0, "lane 2 job");
	CHECK(wait_for(&running[2], 1), "lane 2 runs on the third thread");
	CHECK(get(&running[1]) == 2, "lane 1 still 2");
	open_gate();
	CHECK(wait_for(&done[1], 5), "lane 1 done");
	workers_destroy(&pool);
}

/* One thread and a lane out of range (counted as the last): jobs still
 * run, and destroy runs what waits before it returns. */
static void test_one_thread_and_destroy_drains(void)
{
	struct worker_pool *pool;

	reset();
	open_gate();
	CHECK(workers_create(1, 8, 2, &pool) == 0, "create");
	if (pool == NULL)
		return;
	CHECK(workers_lane_limit(pool) == 1, "one thread: limit 1");
	for (int i = 0; i < 3; i++)
		CHECK(workers_submit(pool, 1, gated_job, (void *)1) == 0, "job %d", i);
	CHECK(workers_submit(pool, 7, gated_job, (void *)1) == 0, "lane 7 is lane 1");
	workers_destroy(&pool);
	CHECK(get(&done[1]) == 4, "destroy ran every job (%u)", get(&done[1]));
}

int main(void)
{
	test_slow_lane_leaves_room();
	test_fewest_running_first();
	test_one_thread_and_destroy_drains();
	return unit_done("test_workers");
}
