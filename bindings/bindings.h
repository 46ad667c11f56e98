// The addon's functions, grouped by domain; addon.cpp registers them all.
#pragma once

#include <napi.h>

namespace dendrite::bindings {

void register_devices(Napi::Env env, Napi::Object exports);  // addon.cpp
void register_linalg(Napi::Env env, Napi::Object exports);   // linalg.cpp
void register_nn(Napi::Env env, Napi::Object exports);       // nn.cpp
void register_random(Napi::Env env, Napi::Object exports);   // random.cpp
void register_sequential(Napi::Env env, Napi::Object exports);  // sequential.cpp
void register_segregated(Napi::Env env, Napi::Object exports);  // segregated.cpp

}  // namespace dendrite::bindings
