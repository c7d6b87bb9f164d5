#include "decisions.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/* One kept decision: copies, since the record's strings are the caller's. */
struct kept {
	time_t when;
	long long ms;
	bool unsent;
	char request_id[24];
	char user[256];
	char received_user[256];
	char source_ip[64];
	char peer[64];
	char provider[128];
	char outcome[32];
	char detail[256];
	char answer[8];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept ring[DECISIONS_KEPT];
static unsigned next_slot, count;

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

void decisions_remember(const struct audit_record *rec, time_t when)
{
	struct kept *k;
	bool unsent = rec->sent != NULL;

	if (!unsent && rec->answer != NULL && strcmp(rec->answer, "true") == 0)
		return;
	pthread_mutex_lock(&lock);
	k = &ring[next_slot];
	next_slot = (next_slot + 1) % DECISIONS_KEPT;
	if (count < DECISIONS_KEPT)
		count++;
	k->when = when;
	k->ms = (long long)rec->elapsed_ms;
	k->unsent = unsent;
	copy(k->request_id, sizeof k->request_id, rec->request_id);
	copy(k->user, sizeof k->user, rec->user);
	copy(k->received_user, sizeof k->received_user, rec->received_user);
	copy(k->source_ip, sizeof k->source_ip, rec->source_ip);
	copy(k->peer, sizeof k->peer, rec->peer);
	copy(k->provider, sizeof k->provider, rec->provider);
	copy(k->outcome, sizeof k->outcome, rec->outcome);
	copy(k->detail, sizeof k->detail, rec->detail);
	copy(k->answer, sizeof k->answer, rec->answer);
	pthread_mutex_unlock(&lock);
}

int decisions_parse_query(const char *answer, const char *limit,
			  enum decisions_filter *filter_r, unsigned *limit_r, const char **error_r)
{
	int64_t n;

	*filter_r = DECISIONS_NOT_TRUE;
	*limit_r = DECISIONS_DEFAULT_LIMIT;
	if (answer != NULL) {
		if (strcmp(answer, "false") == 0)
			*filter_r = DECISIONS_FALSE;
		else if (strcmp(answer, "fault") == 0)
			*filter_r = DECISIONS_FAULT;
		else if (strcmp(answer, "any") != 0) {
			*error_r = "answer must be false, fault or any";
			return -1;
		}
	}
	if (limit != NULL) {
		if (parse_uint(limit, &n) < 0 || n < 1 || n > DECISIONS_KEPT) {
			*error_r = "limit must be a number from 1 to 1000";
			return -1;
		}
		*limit_r = (unsigned)n;
	}
	return 0;
}

static bool wanted(const struct kept *k, enum decisions_filter filter)
{
	switch (filter) {
	case DECISIONS_FALSE:
		return strcmp(k->answer, "false") == 0;
	case DECISIONS_FAULT:
		return strcmp(k->answer, "fault") == 0;
	case DECISIONS_NOT_TRUE:
		break;
	}
	return true;
}

static void add_string(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

static json_object *entry_json(const struct kept *k)
{
	json_object *o = json_object_new_object();
	char when[32];
	struct tm tm;

	gmtime_r(&k->when, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	add_string(o, "time", when);
	add_string(o, "request_id", k->request_id);
	add_string(o, "user", k->user);
	add_string(o, "received_user", k->received_user);
	add_string(o, "source_ip", k->source_ip);
	add_string(o, "peer", k->peer);
	add_string(o, "provider", k->provider);
	add_string(o, "outcome", k->outcome);
	if (k->detail[0] != '\0')
		add_string(o, "detail", k->detail);
	add_string(o, "answer", k->answer);
	json_object_object_add(o, "sent", json_object_new_boolean(!k->unsent));
	json_object_object_add(o, "ms", json_object_new_int64(k->ms));
	return o;
}

char *decisions_json(enum decisions_filter filter, unsigned limit)
{
	json_object *top = json_object_new_object(), *list = json_object_new_array();
	char *text = NULL;
	unsigned kept;

	if (top == NULL || list == NULL) {
		json_object_put(top);
		json_object_put(list);
		return NULL;
	}
	pthread_mutex_lock(&lock);
	kept = count;
	for (unsigned i = 0; i < count && json_object_array_length(list) < limit; i++) {
		const struct kept *k = &ring[(next_slot + DECISIONS_KEPT - 1 - i) % DECISIONS_KEPT];

		if (wanted(k, filter))
			json_object_array_add(list, entry_json(k));
	}
	pthread_mutex_unlock(&lock);
	json_object_object_add(top, "kept", json_object_new_int64(kept));
	json_object_object_add(top, "capacity", json_object_new_int64(DECISIONS_KEPT));
	json_object_object_add(top, "decisions", list);
	text = strdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	return text;
}

void decisions_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(ring, 0, sizeof ring);
	next_slot = count = 0;
	pthread_mutex_unlock(&lock);
}
