{
  "targets": [
    {
      "target_name": "dendrite",
      "sources": [
        "<!@(node scripts/sources.js core cuda_disabled bindings)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wall", "-Wextra", "-Wshadow",
                    "-isystem", "<!(node -p \"require('path').resolve(require('node-addon-api').include_dir)\")"],
      "conditions": [
        ["OS=='linux'", {
          "defines": ["DENDRITE_THREADS=1"],
          "cflags_cc": ["-pthread"],
          "ldflags": ["-pthread"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "OTHER_CPLUSPLUSFLAGS": ["-Wno-unknown-pragmas"]
          }
        }]
      ]
    }
  ]
}
