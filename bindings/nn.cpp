// PLACEHOLDER: replaced by the real bindings.
#include "bindings.h"

namespace dendrite::bindings {

void register_nn(Napi::Env, Napi::Object) {}

}  // namespace dendrite::bindings
