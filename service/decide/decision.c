#include "decision.h"

const char *outcome_name(enum outcome outcome)
{
	switch (outcome) {
	case OUTCOME_OK: return "ok";
	case OUTCOME_REJECT: return "reject";
	case OUTCOME_UNKNOWN_USER: return "unknown_user";
	case OUTCOME_LOCKED: return "locked";
	case OUTCOME_UNAVAILABLE: return "unavailable";
	case OUTCOME_ERROR: return "error";
	case OUTCOME_DEADLINE: return "deadline";
	case OUTCOME_EMPTY_USERNAME: return "empty_username";
	case OUTCOME_EMPTY_PASSWORD: return "empty_password";
	case OUTCOME_BAD_USERNAME: return "bad_username";
	case OUTCOME_NO_ROUTE: return "no_route";
	case OUTCOME_THROTTLED_USER: return "throttled_user";
	case OUTCOME_THROTTLED_SOURCE: return "throttled_source";
	case OUTCOME_THROTTLED_UNFAMILIAR: return "throttled_unfamiliar";
	case OUTCOME_REPEAT_FAILURE: return "repeat_failure";
	case OUTCOME_RELAY_LOOP: return "relay_loop";
	case OUTCOME_BUSY: return "busy";
	case OUTCOME_BAD_REQUEST: return "bad_request";
	}
	return "error";
}

enum outcome outcome_of_result(enum auth_result result)
{
	switch (result) {
	case AUTH_OK: return OUTCOME_OK;
	case AUTH_REJECT: return OUTCOME_REJECT;
	case AUTH_UNKNOWN_USER: return OUTCOME_UNKNOWN_USER;
	case AUTH_LOCKED: return OUTCOME_LOCKED;
	case AUTH_UNAVAILABLE: return OUTCOME_UNAVAILABLE;
	case AUTH_ERROR: return OUTCOME_ERROR;
	}
	return OUTCOME_ERROR;
}
