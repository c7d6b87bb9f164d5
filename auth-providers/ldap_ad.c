/*
 * What a directory says about a failed bind, mapped to outcomes in one
 * place: Active Directory's "data XXX" sub-code, the password policy
 * response control (OpenLDAP ppolicy and others), and plain result codes.
 */
#include "ldap_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

long prov_ldap_ad_data_code(const char *diag)
{
	const char *p = diag;

	if (diag == NULL)
		return -1;
	while ((p = strstr(p, "data ")) != NULL) {
		const char *digits = p + 5;
		char *end;
		long code;

		p = digits;
		/* "data " must start a word: "..., data 52e, v4563" */
		if (digits - 5 != diag && digits[-6] != ' ' && digits[-6] != ',')
			continue;
		if (!isxdigit((unsigned char)digits[0]))
			continue;
		code = strtol(digits, &end, 16);
		if (end - digits > 8 || (*end != '\0' && *end != ',' && *end != ' '))
			continue;
		return code;
	}
	return -1;
}

enum auth_result prov_ldap_ad_outcome(long code, const char **detail_r)
{
	static const struct {
		long code;
		enum auth_result result;
		const char *detail;
	} map[] = {
		{ 0x525, AUTH_UNKNOWN_USER, "ad:525 no such user" },
		{ 0x52e, AUTH_REJECT, "ad:52e bad password" },
		{ 0x530, AUTH_LOCKED, "ad:530 logon not permitted at this time" },
		{ 0x531, AUTH_LOCKED, "ad:531 logon not permitted from this workstation" },
		{ 0x532, AUTH_LOCKED, "ad:532 password expired" },
		{ 0x533, AUTH_LOCKED, "ad:533 account disabled" },
		{ 0x701, AUTH_LOCKED, "ad:701 account expired" },
		{ 0x773, AUTH_LOCKED, "ad:773 must change password" },
		{ 0x775, AUTH_LOCKED, "ad:775 account locked" },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (map[i].code == code) {
			*detail_r = map[i].detail;
			return map[i].result;
		}
	}
	*detail_r = code < 0 ? "invalid credentials" : "ad: invalid credentials (other data code)";
	return AUTH_REJECT;
}

enum auth_result prov_ldap_ppolicy_outcome(int pp_error, const char **detail_r)
{
	switch (pp_error) {
	case PP_passwordExpired:
		*detail_r = "ppolicy: password expired";
		return AUTH_LOCKED;
	case PP_accountLocked:
		*detail_r = "ppolicy: account locked";
		return AUTH_LOCKED;
	case PP_changeAfterReset:
		*detail_r = "ppolicy: must change password";
		return AUTH_LOCKED;
	default:
		*detail_r = NULL;
		return AUTH_OK;
	}
}

enum auth_result prov_ldap_bind_rc_outcome(int rc, const char **detail_r)
{
	switch (rc) {
	case LDAP_SUCCESS:
		*detail_r = NULL;
		return AUTH_OK;
	case LDAP_INVALID_CREDENTIALS:
		return prov_ldap_ad_outcome(-1, detail_r);
	case LDAP_INAPPROPRIATE_AUTH:
		*detail_r = "inappropriate authentication";
		return AUTH_REJECT;
	case LDAP_UNWILLING_TO_PERFORM:
		*detail_r = "directory unwilling to perform the bind";
		return AUTH_REJECT;
	case LDAP_INSUFFICIENT_ACCESS:
		*detail_r = "insufficient access";
		return AUTH_REJECT;
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		*detail_r = "directory busy or unavailable after the bind was sent";
		return AUTH_UNAVAILABLE;
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
		*detail_r = "directory requires a stronger/encrypted bind (configuration)";
		return AUTH_ERROR;
	default:
		*detail_r = "unexpected bind result";
		return AUTH_ERROR;
	}
}

/* userAccountControl and its computed twin (MS-ADTS 2.2.16). */
#define AD_UF_ACCOUNTDISABLE 0x2
#define AD_UF_LOCKOUT 0x10
#define AD_UF_PASSWORD_EXPIRED 0x800000
/* FILETIME of the Unix epoch, in 100 ns units. */
#define AD_FILETIME_UNIX_EPOCH 116444736000000000LL

enum auth_result prov_ldap_account_state(long long uac, long long computed,
					 long long account_expires, bool ppolicy_locked,
					 int64_t now_unix_ms, const char **detail_r)
{
	long long now_ft = AD_FILETIME_UNIX_EPOCH + (long long)now_unix_ms * 10000;

	*detail_r = NULL;
	if (uac >= 0 && (uac & AD_UF_ACCOUNTDISABLE)) {
		*detail_r = "account disabled";
		return AUTH_LOCKED;
	}
	if ((computed >= 0 && (computed & AD_UF_LOCKOUT)) || ppolicy_locked) {
		*detail_r = "account locked";
		return AUTH_LOCKED;
	}
	if (account_expires > 0 && account_expires != 0x7fffffffffffffffLL &&
	    account_expires <= now_ft) {
		*detail_r = "account expired";
		return AUTH_LOCKED;
	}
	if (computed >= 0 && (computed & AD_UF_PASSWORD_EXPIRED)) {
		*detail_r = "password expired";
		return AUTH_LOCKED;
	}
	return AUTH_OK;
}
