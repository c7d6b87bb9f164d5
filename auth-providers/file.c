/*
 * `file`: "username:crypt-hash" lines checked with crypt(3).
 *
 * Accepted hashes: yescrypt ($y$), sha512crypt ($6$), sha256crypt ($5$),
 * bcrypt ($2a$/$2b$/$2y$). DES and MD5 hashes are refused as too weak.
 * The file is stat()ed on every login and re-read when it changed; a file
 * that became unreadable or invalid makes the provider unavailable (fail
 * closed) until it is fixed, with the reason logged once per change.
 */
#include "provider.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/* A line longer than this is not a user line (hashes are ~130 bytes). */
#define FILE_LINE_MAX 1024
/* The dummy of a file that lists nobody (see file_dummy_make). */
static const char file_dummy_hash[] =
	"$y$j9T$7GTVzMIQaMsPEKcjCXIf/0$2soq5zs1DY0TqEL.lhz0AX/2.bNyu5w4qnFxkhdnQX.";
/* Distinct scheme-and-cost settings counted when choosing the dummy; a
 * file rarely holds more than two or three. */
#define FILE_SETTINGS_MAX 16

/* A [provider NAME] of type file, as configured. */
struct file_conf {
	const char *path;
};

static const struct conf_key file_keys[] = {
	{ "path", CONF_PATH, CONF_REQUIRED, NULL, 0, 0, NULL,
	  "users file: lines \"username:crypt-hash\"", CONF_AT(struct file_conf, path) },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

struct file_user {
	char *name;
	char *hash;
};

struct file_users {
	struct file_user *items;
	size_t count;
	/* What an unknown user's password is checked against, so that it costs
	 * what a listed user's does: same scheme and cost as most hashes. */
	char dummy[CRYPT_OUTPUT_SIZE];
};

struct file_state {
	char *path;
	pthread_rwlock_t lock;
	struct file_users users;     /* under lock */
	struct stat seen;            /* identity of the file last read */
	bool valid;                  /* false: unreadable or invalid */
};

static void file_users_clear(struct file_users *u)
{
	for (size_t i = 0; i < u->count; i++) {
		free(u->items[i].name);
		explicit_bzero(u->items[i].hash, strlen(u->items[i].hash));
		free(u->items[i].hash);
	}
	free(u->items);
	u->items = NULL;
	u->count = 0;
}

static bool file_hash_supported(const char *hash)
{
	static const char *const prefixes[] = {
		"$y$", "$6$", "$5$", "$2a$", "$2b$", "$2y$", NULL
	};

	for (size_t i = 0; prefixes[i] != NULL; i++)
		if (strncmp(hash, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static int file_user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file_user *)a)->name,
		      ((const struct file_user *)b)->name);
}

/* The length of the part of `hash` that sets its scheme and cost, up to
 * the salt ("$y$j9T$", "$2b$12$", "$6$rounds=N$" or "$6$"), or 0. */
static size_t file_hash_setting_len(const char *hash)
{
	const char *p = strchr(hash + 1, '$');

	if (p == NULL)
		return 0;
	if ((strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$5$", 3) == 0) &&
	    strncmp(p + 1, "rounds=", 7) != 0)
		return (size_t)(p + 1 - hash);
	p = strchr(p + 1, '$');
	return p == NULL ? 0 : (size_t)(p + 1 - hash);
}

/* An unknown user must not answer faster than a listed one (that tells
 * who exists): hash a fixed phrase with the setting most of the file's
 * users have. Only scheme and cost matter for the time it takes. */
struct file_setting {
	const char *hash;    /* the first hash with this setting */
	size_t len, count;
};

static void file_dummy_make(struct file_users *u, const char *path)
{
	struct file_setting seen[FILE_SETTINGS_MAX];
	size_t nseen = 0, best = 0;
	struct crypt_data *cd;
	const char *out;

	snprintf(u->dummy, sizeof u->dummy, "%s", file_dummy_hash);
	for (size_t i = 0; i < u->count; i++) {
		const char *h = u->items[i].hash;
		size_t len = file_hash_setting_len(h), k;

		for (k = 0; k < nseen; k++)
			if (seen[k].len == len && strncmp(seen[k].hash, h, len) == 0)
				break;
		if (k == nseen) {
			if (nseen == FILE_SETTINGS_MAX || len == 0)
				continue;
			seen[nseen++] = (struct file_setting){ h, len, 0 };
		}
		if (++seen[k].count > seen[best].count)
			best = k;
	}
	if (nseen == 0 || (cd = calloc(1, sizeof *cd)) == NULL)
		return;
	out = crypt_rn("dagate: no such user", seen[best].hash, cd, sizeof *cd);
	if (out != NULL && out[0] != '*') {
		snprintf(u->dummy, sizeof u->dummy, "%s", out);
		log_debug("users file %s: unknown users cost a %.*s check", path,
			  (int)seen[best].len, seen[best].hash);
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
}

/* Parse the whole file; on error fill `error` with "PATH:LINE: message". */
static int file_users_load(const char *path, struct file_users *out,
			   struct stat *st_r, char *error, size_t error_size)
{
	struct file_users u = { .items = NULL };
	size_t cap = 0;
	char line[FILE_LINE_MAX + 2];
	int lineno = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		snprintf(error, error_size, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), st_r) < 0) {
		snprintf(error, error_size, "%s: %s", path, strerror(errno));
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		size_t len = strlen(line);
		char *colon, *p = line;

		lineno++;
		if (len > FILE_LINE_MAX) {
			snprintf(error, error_size, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		colon = strrchr(p, ':');
		if (colon == NULL || colon == p) {
			snprintf(error, error_size, "%s:%d: expected \"username:crypt-hash\"",
				 path, lineno);
			goto fail;
		}
		*colon = '\0';
		if (!file_hash_supported(colon + 1)) {
			snprintf(error, error_size,
				 "%s:%d: unsupported hash (use yescrypt, sha512crypt or bcrypt: dagate hash-password)",
				 path, lineno);
			goto fail;
		}
		if (u.count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct file_user *n = realloc(u.items, ncap * sizeof *n);

			if (n == NULL)
				goto oom;
			u.items = n;
			cap = ncap;
		}
		u.items[u.count].name = strdup(p);
		u.items[u.count].hash = strdup(colon + 1);
		explicit_bzero(line, sizeof line);
		if (u.items[u.count].name == NULL || u.items[u.count].hash == NULL) {
			free(u.items[u.count].name);
			free(u.items[u.count].hash);
			goto oom;
		}
		u.count++;
	}
	fclose(f);
	/* An empty file leaves items NULL: qsort/bsearch must not see it. */
	if (u.count > 1)
		qsort(u.items, u.count, sizeof *u.items, file_user_cmp);
	for (size_t i = 1; i < u.count; i++) {
		if (strcmp(u.items[i - 1].name, u.items[i].name) == 0) {
			snprintf(error, error_size, "%s: user listed twice", path);
			file_users_clear(&u);
			return -1;
		}
	}
	file_dummy_make(&u, path);
	*out = u;
	return 0;
oom:
	snprintf(error, error_size, "%s: out of memory", path);
fail:
	explicit_bzero(line, sizeof line);
	fclose(f);
	file_users_clear(&u);
	return -1;
}

static bool file_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	       a->st_size != b->st_size ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Re-read the file if it changed since it was last read. */
static void file_refresh(struct file_state *st)
{
	struct stat now;
	struct file_users fresh;
	char error[512];
	bool changed;

	pthread_rwlock_rdlock(&st->lock);
	changed = stat(st->path, &now) < 0 || file_changed(&now, &st->seen);
	pthread_rwlock_unlock(&st->lock);
	if (!changed)
		return;

	pthread_rwlock_wrlock(&st->lock);
	if (stat(st->path, &now) == 0 && !file_changed(&now, &st->seen)) {
		pthread_rwlock_unlock(&st->lock);
		return;  /* another thread reloaded it meanwhile */
	}
	if (file_users_load(st->path, &fresh, &now, error, sizeof error) < 0) {
		if (st->valid || st->seen.st_ino != now.st_ino ||
		    st->seen.st_mtim.tv_sec != now.st_mtim.tv_sec)
			log_errorx("users file not usable, answering unavailable: %s", error);
		file_users_clear(&st->users);
		st->valid = false;
		memset(&st->seen, 0, sizeof st->seen);
		st->seen.st_ino = now.st_ino;
		st->seen.st_mtim = now.st_mtim;
	} else {
		file_users_clear(&st->users);
		st->users = fresh;
		st->seen = now;
		st->valid = true;
		log_info("users file %s re-read: %zu users", st->path, fresh.count);
	}
	pthread_rwlock_unlock(&st->lock);
}

static int file_parse(struct provider *p, const struct conf_section *s,
		     struct conf_errors *errors)
{
	struct file_state *st = calloc(1, sizeof *st);
	struct file_conf c;
	char error[512];

	conf_bind(s, file_keys, &c);
	if (st == NULL || (st->path = strdup(c.path)) == NULL) {
		free(st);
		return -1;
	}
	pthread_rwlock_init(&st->lock, NULL);
	if (file_users_load(st->path, &st->users, &st->seen, error, sizeof error) < 0) {
		conf_error_at(errors, s->file, conf_line(s, "path"), "%s", error);
		pthread_rwlock_destroy(&st->lock);
		free(st->path);
		free(st);
		return -1;
	}
	if (st->seen.st_mode & 004)
		log_warnx("users file %s is world-readable; its hashes deserve chmod 640",
			  st->path);
	st->valid = true;
	p->state = st;
	return 0;
}

static enum auth_result file_authenticate(struct provider *p,
					  const struct auth_request *req,
					  const char **detail_r)
{
	struct file_state *st = p->state;
	struct file_user key = { .name = (char *)req->username };
	const struct file_user *found;
	char hash[CRYPT_OUTPUT_SIZE];
	struct crypt_data *cd;
	enum auth_result result;
	const char *out;

	file_refresh(st);
	cd = calloc(1, sizeof *cd);
	if (cd == NULL)
		return AUTH_ERROR;

	pthread_rwlock_rdlock(&st->lock);
	if (!st->valid) {
		pthread_rwlock_unlock(&st->lock);
		free(cd);
		*detail_r = "users file invalid";
		return AUTH_UNAVAILABLE;
	}
	found = st->users.count == 0 ? NULL :
		bsearch(&key, st->users.items, st->users.count,
			sizeof *st->users.items, file_user_cmp);
	snprintf(hash, sizeof hash, "%s", found != NULL ? found->hash : st->users.dummy);
	pthread_rwlock_unlock(&st->lock);

	auth_trace_step(req, "file: %s %s", st->path,
			found != NULL ? "lists the user" : "does not list the user");
	/* crypt(3) refuses longer passphrases: a password that cannot be
	 * checked is a wrong one, never a fault (anyone could raise the
	 * "service down" alarm). Listed or not, it answers at once. */
	if (req->password_len >= CRYPT_MAX_PASSPHRASE_SIZE) {
		result = found != NULL ? AUTH_REJECT : AUTH_UNKNOWN_USER;
		*detail_r = "password longer than crypt(3) accepts";
		goto out;
	}
	out = crypt_rn(req->password, hash, cd, sizeof *cd);
	if (out == NULL || out[0] == '*') {
		result = AUTH_ERROR;
		*detail_r = "crypt failed";
	} else if (found == NULL) {
		result = AUTH_UNKNOWN_USER;
	} else if (strlen(out) == strlen(hash) &&
		   CRYPTO_memcmp(out, hash, strlen(hash)) == 0) {
		result = AUTH_OK;
	} else {
		result = AUTH_REJECT;
	}
out:
	explicit_bzero(cd, sizeof *cd);
	explicit_bzero(hash, sizeof hash);
	free(cd);
	return result;
}

static int file_probe(struct provider *p, int64_t deadline_ms, const char **detail_r)
{
	struct file_state *st = p->state;
	bool valid;

	file_refresh(st);
	pthread_rwlock_rdlock(&st->lock);
	valid = st->valid;
	pthread_rwlock_unlock(&st->lock);
	*detail_r = valid ? "users file readable and valid" : "users file invalid";
	return valid ? 0 : -1;
}

static void file_fini(struct provider *p)
{
	struct file_state *st = p->state;

	if (st == NULL)
		return;
	file_users_clear(&st->users);
	pthread_rwlock_destroy(&st->lock);
	free(st->path);
	free(st);
	p->state = NULL;
}

const struct provider_type prov_file_type = {
	.name = "file",
	.keys = file_keys,
	.parse = file_parse,
	.authenticate = file_authenticate,
	.probe = file_probe,
	.fini = file_fini,
};
