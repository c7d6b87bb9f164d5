/*
 * The namespace table and the gSOAP contexts that read and write with it.
 */
#include "sf_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * The one table, under the name libgsoap refers to. Unlike the generated
 * .nsmap it has no wildcard patterns: the Envelope must be SOAP 1.1 exactly,
 * and a SOAP 1.2 (or any other) envelope namespace must not match.
 */
SOAP_NMAC struct Namespace namespaces[] = {
	{ "SOAP-ENV", "http://schemas.xmlsoap.org/soap/envelope/", NULL, NULL },
	{ "SOAP-ENC", "http://schemas.xmlsoap.org/soap/encoding/", NULL, NULL },
	{ "xsi", "http://www.w3.org/2001/XMLSchema-instance", NULL, NULL },
	{ "xsd", "http://www.w3.org/2001/XMLSchema", NULL, NULL },
	{ "sf", SF_NS, NULL, NULL },
	{ NULL, NULL, NULL, NULL }
};

static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static __thread struct soap *thread_soap;

static void thread_soap_free(void *p)
{
	struct soap *soap = p;

	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
}

static void thread_key_create(void)
{
	/* The destructor frees a worker's context when the thread exits. */
	if (pthread_key_create(&thread_key, thread_soap_free) != 0)
		abort();
}

struct soap *sf_thread_context(void)
{
	if (thread_soap == NULL) {
		pthread_once(&thread_once, thread_key_create);
		thread_soap = soap_new1(SF_MODE_ENDPOINT);
		if (thread_soap == NULL)
			return NULL;
		soap_set_namespaces(thread_soap, namespaces);
		pthread_setspecific(thread_key, thread_soap);
	}
	return thread_soap;
}

void sf_thread_context_free(void)
{
	if (thread_soap != NULL) {
		pthread_setspecific(thread_key, NULL);
		thread_soap_free(thread_soap);
		thread_soap = NULL;
	}
}

struct soap *sf_context_new(soap_mode mode)
{
	struct soap *soap = soap_new1(mode);

	if (soap != NULL)
		soap_set_namespaces(soap, namespaces);
	return soap;
}

void sf_context_free(struct soap **soapp)
{
	struct soap *soap = *soapp;

	if (soap == NULL)
		return;
	explicit_bzero(soap->buf, sizeof soap->buf);
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	*soapp = NULL;
}
