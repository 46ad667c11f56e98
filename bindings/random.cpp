// PLACEHOLDER: replaced by the real bindings.
#include "bindings.h"

namespace dendrite::bindings {

void register_random(Napi::Env, Napi::Object) {}

}  // namespace dendrite::bindings
