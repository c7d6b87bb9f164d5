/* `dagate test-user --server URL` (test_user_server.c). */
#ifndef DAGATE_TEST_USER_SERVER_H
#define DAGATE_TEST_USER_SERVER_H

struct test_user_server_args {
	const char *url;        /* the endpoint: http:// or https:// */
	const char *user;
	const char *source_ip;
	const char *ca_file;    /* NULL: the system's trust store */
};

/* Sends the Authenticate and prints what came back. The exit status:
 * 0 only for true, 1 otherwise. */
int test_user_server(const struct test_user_server_args *a, const char *password);

#endif
