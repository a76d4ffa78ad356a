// The one doctest main() every test binary links (doctest_main_dep): its
// implementation compiles once, not once per test (~6 s each).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
