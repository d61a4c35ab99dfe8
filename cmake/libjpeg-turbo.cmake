# JPEG::JPEG as libjpeg-turbo built static from STILLFRAME_JPEG_TARBALL, SIMD required.
# ExternalProject, since libjpeg-turbo refuses add_subdirectory().

set(jpeg_args -DREQUIRE_SIMD=ON)
if(STILLFRAME_NASM)
  list(APPEND jpeg_args -DCMAKE_ASM_NASM_COMPILER=${STILLFRAME_NASM})
endif()
# libjpeg-turbo picks its SIMD code by CMAKE_SYSTEM_PROCESSOR: on a Mac building the other
# architecture (cibuildwheel's x86_64 on arm64), that is the target's, not the host's.
if(APPLE AND CMAKE_OSX_ARCHITECTURES MATCHES "^(x86_64|arm64)$")
  list(APPEND jpeg_args -DCMAKE_SYSTEM_PROCESSOR=${CMAKE_OSX_ARCHITECTURES})
endif()
foreach(var CMAKE_OSX_ARCHITECTURES CMAKE_OSX_DEPLOYMENT_TARGET CMAKE_TOOLCHAIN_FILE)
  if(${var})
    list(APPEND jpeg_args -D${var}=${${var}})
  endif()
endforeach()
# Its SIMD dispatch reads a thread-local flag on every 8x8 block; in a static library
# linked into our module that costs a __tls_get_addr call each time (1% of an encode).
# initial-exec makes it a plain load, from the few bytes of static TLS glibc keeps for
# modules loaded later.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  list(APPEND jpeg_args "-DCMAKE_C_FLAGS=${CMAKE_C_FLAGS} -ftls-model=initial-exec")
endif()
if(MSVC)
  set(jpeg_lib jpeg-static.lib)
  list(APPEND jpeg_args -DWITH_CRT_DLL=ON) # Python's C runtime, /MD, not /MT
else()
  set(jpeg_lib libjpeg.a)
endif()

include(ExternalProject)
if(POLICY CMP0135)
  cmake_policy(SET CMP0135 NEW)
endif()
set(jpeg_prefix ${CMAKE_CURRENT_BINARY_DIR}/libjpeg-turbo)
ExternalProject_Add(libjpeg_turbo
  URL "${STILLFRAME_JPEG_TARBALL}"
  URL_HASH SHA256=3a13a5ba767dc8264bc40b185e41368a80d5d5f945944d1dbaa4b2fb0099f4e5
  PREFIX ${jpeg_prefix}
  INSTALL_DIR ${jpeg_prefix}/install
  CMAKE_ARGS
    -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_INSTALL_PREFIX=<INSTALL_DIR>
    -DCMAKE_INSTALL_LIBDIR=lib
    -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON
    -DENABLE_SHARED=OFF -DENABLE_STATIC=ON
    -DWITH_TURBOJPEG=OFF -DWITH_TOOLS=OFF -DWITH_TESTS=OFF -DWITH_JAVA=OFF
    ${jpeg_args}
  BUILD_BYPRODUCTS ${jpeg_prefix}/install/lib/${jpeg_lib}
)
file(MAKE_DIRECTORY ${jpeg_prefix}/install/include) # an imported target's include dir must exist now
add_library(JPEG::JPEG STATIC IMPORTED)
set_target_properties(JPEG::JPEG PROPERTIES
  IMPORTED_LOCATION ${jpeg_prefix}/install/lib/${jpeg_lib}
  INTERFACE_INCLUDE_DIRECTORIES ${jpeg_prefix}/install/include)
add_dependencies(JPEG::JPEG libjpeg_turbo)
