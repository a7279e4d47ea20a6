// SPDX-License-Identifier: Apache-2.0
#pragma once
/// fda's version, MAJOR.MINOR.PATCH (semantic versioning: while MAJOR is 0, a MINOR
/// release may change the API). A static file, so that the headers work without any
/// configure step; CMake checks at configure time that it agrees with project(VERSION).

/// The major version: incompatible API changes (from 1.0 on).
#define FDA_VERSION_MAJOR 0
/// The minor version: new features; while FDA_VERSION_MAJOR is 0, also API changes.
#define FDA_VERSION_MINOR 2
/// The patch version: fixes only.
#define FDA_VERSION_PATCH 0
/// The whole version as a string literal, "MAJOR.MINOR.PATCH".
#define FDA_VERSION "0.2.0"
