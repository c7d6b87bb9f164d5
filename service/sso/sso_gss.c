/*
 * The SPNEGO/Kerberos acceptor of [sso] (MIT krb5 GSS-API) and the
 * keytab check of check-config. The keytab is named in a credential
 * store (gss_acquire_cred_from), never through KRB5_KTNAME, so that
 * nothing process-wide changes.
 */
#include "sso.h"

#include <gssapi/gssapi_krb5.h>
#include <gssapi/gssapi_ext.h>
#include <krb5/krb5.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct sso_acceptor {
	gss_cred_id_t cred;
};

static char *gss_error_text(OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 m, ctx = 0;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	char *text = NULL;

	gss_display_status(&m, minor != 0 ? minor : major, minor != 0 ? GSS_C_MECH_CODE :
			   GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx, &b);
	if (asprintf(&text, "%.*s", (int)b.length, b.value != NULL ? (char *)b.value : "?") < 0)
		text = NULL;
	gss_release_buffer(&m, &b);
	return text;
}

int sso_acceptor_create(const char *keytab, const char *principal,
			struct sso_acceptor **acc_r, char **error_r)
{
	gss_key_value_element_desc el = { "keytab", keytab };
	gss_key_value_set_desc store = { 1, &el };
	gss_name_t name = GSS_C_NO_NAME;
	OM_uint32 major, minor;
	struct sso_acceptor *acc = calloc(1, sizeof *acc);

	*acc_r = NULL;
	*error_r = NULL;
	if (acc == NULL)
		return -1;
	if (principal != NULL) {
		gss_buffer_desc nb = { strlen(principal), (void *)principal };

		major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
		if (GSS_ERROR(major)) {
			*error_r = gss_error_text(major, minor);
			free(acc);
			return -1;
		}
	}
	major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
				      GSS_C_ACCEPT, &store, &acc->cred, NULL, NULL);
	gss_release_name(&minor, &name);
	if (GSS_ERROR(major)) {
		*error_r = gss_error_text(major, minor);
		free(acc);
		return -1;
	}
	*acc_r = acc;
	return 0;
}

void sso_acceptor_free(struct sso_acceptor **ap)
{
	OM_uint32 minor;

	if (*ap == NULL)
		return;
	gss_release_cred(&minor, &(*ap)->cred);
	free(*ap);
	*ap = NULL;
}

/* Base64 without blanks -> malloc'd bytes. */
static unsigned char *b64_decode(const char *in, size_t *len_r)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *out;
	int got;

	if (n == 0 || n % 4 != 0 || n > SSO_TOKEN_B64_MAX || (out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	pad = (in[n - 1] == '=') + (in[n - 2] == '=');
	*len_r = (size_t)got - pad;
	return out;
}

/* The mechglue hands out its own minor codes (a process-wide map), not
 * krb5's error codes, so a failure is told by the text MIT's acceptor
 * writes for it (src/lib/krb5/krb/rd_req_dec.c, krb5_err.et). */
static const struct {
	const char *text;
	enum sso_outcome outcome;
	const char *detail;
} failures[] = {
	{ "Clock skew too great", SSO_CLOCK_SKEW, "clock skew too great" },
	{ "Request is a replay", SSO_REPLAY, "replayed authenticator" },
	{ "not found in keytab", SSO_WRONG_SERVICE, "ticket for a service not in the keytab" },
	{ "does not match request", SSO_WRONG_SERVICE, "ticket for another service" },
	{ "keytab is likely out of date", SSO_WRONG_SERVICE, "key version not in the keytab" },
	{ "but not with enctype", SSO_WRONG_SERVICE, "encryption type not in the keytab" },
	{ "Cannot decrypt ticket", SSO_WRONG_SERVICE, "ticket not for this key" },
	{ "Ticket expired", SSO_BAD_TICKET, "ticket expired" },
};

static enum sso_outcome classify(OM_uint32 major, OM_uint32 minor, const char **detail_r)
{
	char *text = gss_error_text(major, minor);
	enum sso_outcome o = SSO_BAD_TICKET;

	*detail_r = major == GSS_S_CONTINUE_NEEDED ? "more than one round trip (not Kerberos)"
		    : GSS_ERROR(major) == GSS_S_DEFECTIVE_TOKEN ? "defective token"
		    : GSS_ERROR(major) == GSS_S_BAD_MECH ? "no Kerberos mechanism in the token"
		    : "not accepted";
	for (size_t i = 0; text != NULL && i < sizeof failures / sizeof failures[0]; i++)
		if (strstr(text, failures[i].text) != NULL) {
			o = failures[i].outcome;
			*detail_r = failures[i].detail;
			break;
		}
	/* The text names principals (no secret): for the operator's debugging. */
	log_debug("sso: ticket not accepted: %s (major 0x%x)", text != NULL ? text : "?", major);
	free(text);
	return o;
}

/* Kerberos, under its own OID or the one Windows long sent by mistake
 * (1.2.840.48018.1.2.2, which SPNEGO from Windows browsers still lists). */
static bool is_kerberos(gss_OID mech)
{
	return mech != GSS_C_NO_OID &&
	       (gss_oid_equal(mech, gss_mech_krb5) || gss_oid_equal(mech, gss_mech_krb5_wrong));
}

enum sso_outcome sso_accept(struct sso_acceptor *acc, const char *token_b64,
			    char *principal, size_t size, char *reply, size_t reply_size,
			    const char **detail_r)
{
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
	gss_buffer_desc shown = GSS_C_EMPTY_BUFFER;
	gss_name_t src = GSS_C_NO_NAME;
	gss_OID mech = GSS_C_NO_OID;
	OM_uint32 major, minor, m;
	enum sso_outcome o = SSO_OK;
	size_t len = 0;

	principal[0] = '\0';
	reply[0] = '\0';
	if ((in.value = b64_decode(token_b64, &len)) == NULL) {
		*detail_r = "token is not base64";
		return SSO_BAD_TICKET;
	}
	in.length = len;
	if (len >= 7 && memcmp(in.value, "NTLMSSP", 7) == 0) {
		free(in.value);
		*detail_r = "NTLM, not Kerberos (the PC has no ticket for this host)";
		return SSO_NO_TICKET;
	}
	major = gss_accept_sec_context(&minor, &ctx, acc->cred, &in, GSS_C_NO_CHANNEL_BINDINGS,
				       &src, &mech, &out, NULL, NULL, NULL);
	if (major != GSS_S_COMPLETE) {
		o = classify(major, minor, detail_r);
	} else if (!is_kerberos(mech)) {
		*detail_r = "mechanism is not Kerberos";
		o = SSO_BAD_TICKET;
	} else if (GSS_ERROR(gss_display_name(&m, src, &shown, NULL)) || shown.length == 0 ||
		   shown.length >= size || memchr(shown.value, '\0', shown.length) != NULL) {
		*detail_r = "client principal unreadable";
		o = SSO_BAD_TICKET;
	} else {
		memcpy(principal, shown.value, shown.length);
		principal[shown.length] = '\0';
		if (out.length > 0 && (out.length + 2) / 3 * 4 < reply_size)
			EVP_EncodeBlock((unsigned char *)reply, out.value, (int)out.length);
		*detail_r = NULL;
	}
	free(in.value);
	gss_release_buffer(&m, &out);
	gss_release_buffer(&m, &shown);
	gss_release_name(&m, &src);
	gss_delete_sec_context(&m, &ctx, GSS_C_NO_BUFFER);
	return o;
}

/* check-config: readable, and holds `principal` (or any key). */
int sso_keytab_check(const struct sso_config *sso, struct conf_errors *errors)
{
	krb5_context kc = NULL;
	krb5_keytab kt = NULL;
	krb5_principal want = NULL;
	krb5_keytab_entry entry;
	krb5_kt_cursor cursor;
	krb5_error_code rc;
	char name[4096];
	int line = sso->keytab_line, ret = -1;
	const char *msg;

	if ((rc = krb5_init_context(&kc)) != 0) {
		conf_error_at(errors, sso->file, line, "keytab %s: no Kerberos library context (%d)",
			      sso->keytab, (int)rc);
		return -1;
	}
	snprintf(name, sizeof name, "FILE:%s", sso->keytab);
	if ((rc = krb5_kt_resolve(kc, name, &kt)) != 0)
		goto fail;
	if (sso->principal != NULL) {
		if ((rc = krb5_parse_name(kc, sso->principal, &want)) != 0)
			goto fail;
		rc = krb5_kt_get_entry(kc, kt, want, 0, 0, &entry);
		if (rc == 0)
			krb5_free_keytab_entry_contents(kc, &entry);
	} else if ((rc = krb5_kt_start_seq_get(kc, kt, &cursor)) == 0) {
		rc = krb5_kt_next_entry(kc, kt, &entry, &cursor);
		if (rc == 0)
			krb5_free_keytab_entry_contents(kc, &entry);
		krb5_kt_end_seq_get(kc, kt, &cursor);
	}
	if (rc == 0) {
		ret = 0;
		goto out;
	}
fail:
	msg = krb5_get_error_message(kc, rc);
	if (rc == KRB5_KT_NOTFOUND && sso->principal != NULL)
		conf_error_at(errors, sso->file, line, "keytab %s holds no key for %s", sso->keytab,
			      sso->principal);
	else if (rc == KRB5_KT_END)
		conf_error_at(errors, sso->file, line, "keytab %s holds no key", sso->keytab);
	else
		conf_error_at(errors, sso->file, line, "keytab %s: %s", sso->keytab, msg);
	krb5_free_error_message(kc, msg);
out:
	krb5_free_principal(kc, want);
	if (kt != NULL)
		krb5_kt_close(kc, kt);
	krb5_free_context(kc);
	return ret;
}
