/*
 * DeepSeek: the OpenAI-compatible API at https://api.deepseek.com
 * (POST /chat/completions, Bearer key). It has no "store" parameter, so
 * no native retention control is sent; the policy blocks DeepSeek until
 * a DPA is approved.
 */
#include "../router_int.h"

static coop_err build(const struct coop_provider_input *in, struct coop_provider_request *out)
{
    return openai_compat_build(in, out, false);
}

const struct coop_provider_ops coop_provider_deepseek = {
    .version = 1,
    .name = "deepseek",
    .key_var = "DEEPSEEK_API_KEY",
    .base_url_var = "COOP_DEEPSEEK_BASE_URL",
    .default_base_url = "https://api.deepseek.com",
    .key_required = true,
    .native_controls = "",
    .build = build,
    .translate_response = openai_compat_response,
    .translate_event = openai_compat_event,
};
