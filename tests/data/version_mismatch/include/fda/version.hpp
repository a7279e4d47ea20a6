// A fixture of tests/read_version.cmake: the header says 0.2.0, the changelog 0.1.0.
#define FDA_VERSION_MAJOR 0
#define FDA_VERSION_MINOR 2
#define FDA_VERSION_PATCH 0
#define FDA_VERSION "0.2.0"
