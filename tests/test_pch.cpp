// Compiles the tests' shared precompiled header once (see loom_gtest in CMakeLists.txt).
