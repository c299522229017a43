/*
 * Inside attest: the secret half of the signing key, for DSSE signing only.
 */
#ifndef COOP_ATTEST_INT_H
#define COOP_ATTEST_INT_H

#include "coop/attest.h"

const unsigned char *attest_secret_key(const struct coop_attest_signer *s);

#endif
