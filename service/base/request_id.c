#include "request_id.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/random.h>

#include "clock.h"
#include "hex.h"

static atomic_uint_fast64_t request_counter;
static uint64_t request_id_base;
static pthread_once_t request_id_once = PTHREAD_ONCE_INIT;

static void request_id_init(void)
{
	if (getrandom(&request_id_base, sizeof request_id_base, 0) != sizeof request_id_base)
		request_id_base = (uint64_t)clock_now_ms() * 2654435761u;
}

void request_id_next(char *out, size_t size)
{
	uint8_t be[8];
	uint64_t id;

	pthread_once(&request_id_once, request_id_init);
	id = request_id_base + atomic_fetch_add(&request_counter, 1);
	if (size < REQUEST_ID_SIZE)
		return;
	for (size_t i = 0; i < sizeof be; i++)
		be[i] = (uint8_t)(id >> (56 - 8 * i));
	hex_encode(be, sizeof be, out);
}
