/*
 * What one Authenticate came to: the answer Salesforce gets and the
 * outcome the audit log and the metrics record. Outcomes are typed; their
 * text exists only at the edges (outcome_name: log, metrics, test-user).
 */
#ifndef DAGATE_DECISION_H
#define DAGATE_DECISION_H

#include "provider.h"
#include "usermap.h"

enum answer { ANSWER_FALSE = 0, ANSWER_TRUE, ANSWER_FAULT };

/* Every audit outcome (DESIGN.md, README "audit log fields and outcomes"). */
enum outcome {
	OUTCOME_OK = 0,            /* a provider or the token store said yes */
	OUTCOME_REJECT,            /* wrong password, bad token, tokens disabled */
	OUTCOME_UNKNOWN_USER,
	OUTCOME_LOCKED,
	OUTCOME_UNAVAILABLE,       /* no provider could answer */
	OUTCOME_ERROR,             /* internal or ambiguous failure */
	OUTCOME_DEADLINE,          /* the deadline came first */
	OUTCOME_EMPTY_USERNAME,    /* rule 1 */
	OUTCOME_EMPTY_PASSWORD,    /* rule 1 */
	OUTCOME_BAD_USERNAME,      /* not a Salesforce username, or too long */
	OUTCOME_NO_ROUTE,          /* no [route] rule matches */
	OUTCOME_THROTTLED_USER,    /* the user's failure budget is spent */
	OUTCOME_THROTTLED_SOURCE,  /* the sourceIp's failure budget is spent */
	OUTCOME_THROTTLED_UNFAMILIAR, /* the user's budget for unfamiliar networks is spent */
	OUTCOME_REPEAT_FAILURE,    /* the same failing password again */
	OUTCOME_RELAY_LOOP,        /* the request came back through a relay */
	OUTCOME_BUSY,              /* the worker queue was full */
	OUTCOME_BAD_REQUEST,       /* not a valid Authenticate: soap:Client */
};

/* The audit text of an outcome ("ok", "empty_password", ...). */
const char *outcome_name(enum outcome outcome);
/* The outcome of a provider's (or the token store's) own answer. */
enum outcome outcome_of_result(enum auth_result result);

struct decision {
	enum answer answer;
	enum auth_result result;   /* of the provider that decided */
	enum outcome outcome;
	const char *detail;        /* refinement or NULL; static or detail_buf */
	char detail_buf[AUTH_DETAIL_MAX]; /* a provider's formatted detail */
	const char *provider;      /* name, or "-" */
	char mapped_user[MAPPED_USER_MAX + 1];
};

#endif
