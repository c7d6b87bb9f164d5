# Install rules and the Debian package (CPack DEB), included at the end of
# CMakeLists.txt. scripts/package builds, lints and checks the .deb.
#
# With CMAKE_INSTALL_PREFIX=/usr (the package) the system files go where
# Debian 12 expects them: /etc/dagate, /lib/systemd/system,
# /etc/logrotate.d, /usr/lib/sysusers.d. Under any other prefix (the
# default /usr/local of a developer's `cmake --install`) only the binary,
# the manual pages and the documentation are installed: a unit or a
# logrotate snippet that names /usr/bin/dagate would be wrong there, and
# nothing is written outside the prefix.

include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_dagate_system_default ON)
else()
  set(_dagate_system_default OFF)
endif()
option(DAGATE_INSTALL_SYSTEM_FILES
  "Install the systemd unit, logrotate snippet, sysusers.d file and /etc/dagate (Debian layout; needs CMAKE_INSTALL_PREFIX=/usr)"
  ${_dagate_system_default})
set(DAGATE_DEB_MAINTAINER "dagate maintainers <dagate@example.org>" CACHE STRING
  "Maintainer field of the Debian package")
set(DAGATE_DEB_RELEASE 1 CACHE STRING "Debian revision of the package")

set(DAGATE_DEB_VERSION "${PROJECT_VERSION}-${DAGATE_DEB_RELEASE}")
set(_pkg_out ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_pkg_out})

find_program(DAGATE_GZIP gzip REQUIRED)

# gzip -9n: maximal compression and no name or time stamp in the header,
# so the package is reproducible (lintian checks both).
function(dagate_gzip_file src out)
  add_custom_command(OUTPUT ${out}
    COMMAND ${DAGATE_GZIP} -9n -c ${src} > ${out}
    DEPENDS ${src}
    COMMENT "gzip -9n ${src}"
    VERBATIM)
endfunction()

# Manual pages and documentation

set(_man_8 ${CMAKE_SOURCE_DIR}/dist/man/dagate.8)
set(_man_5 ${CMAKE_SOURCE_DIR}/dist/man/dagate.conf.5)
dagate_gzip_file(${_man_8} ${_pkg_out}/dagate.8.gz)
dagate_gzip_file(${_man_5} ${_pkg_out}/dagate.conf.5.gz)
# The README is the operator's guide.
dagate_gzip_file(${CMAKE_SOURCE_DIR}/README.md ${_pkg_out}/README.md.gz)
set(_pkg_generated ${_pkg_out}/dagate.8.gz ${_pkg_out}/dagate.conf.5.gz ${_pkg_out}/README.md.gz)

# The changelog's date: SOURCE_DATE_EPOCH when set (reproducible builds),
# else the time of configuration.
string(TIMESTAMP DAGATE_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_SOURCE_DIR}/dist/debian/changelog.in
  ${_pkg_out}/changelog.Debian @ONLY)
dagate_gzip_file(${_pkg_out}/changelog.Debian ${_pkg_out}/changelog.Debian.gz)
list(APPEND _pkg_generated ${_pkg_out}/changelog.Debian.gz)

add_custom_target(dagate_packaging_files ALL DEPENDS ${_pkg_generated})

install(FILES ${_pkg_out}/dagate.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${_pkg_out}/dagate.conf.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${CMAKE_SOURCE_DIR}/dist/debian/copyright ${_pkg_out}/README.md.gz
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Salesforce's published ranges -> an allow_file (README "Allow only Salesforce").
install(PROGRAMS ${CMAKE_SOURCE_DIR}/scripts/salesforce-ranges
  DESTINATION ${CMAKE_INSTALL_DATADIR}/dagate)

# System files (Debian layout)

if(DAGATE_INSTALL_SYSTEM_FILES)
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    message(WARNING "DAGATE_INSTALL_SYSTEM_FILES with prefix ${CMAKE_INSTALL_PREFIX}: "
      "the unit and the configuration still name /usr/bin/dagate and /etc/dagate")
  endif()
  # Debian 12 keeps units in /lib/systemd/system (lintian:
  # systemd-service-file-outside-lib); sysusers.d files in /usr/lib.
  set(DAGATE_SYSTEMD_UNITDIR /lib/systemd/system CACHE PATH "systemd system unit directory")
  set(_etc /etc)

  install(FILES ${CMAKE_SOURCE_DIR}/dist/dagate.service
    DESTINATION ${DAGATE_SYSTEMD_UNITDIR})
  install(FILES ${CMAKE_SOURCE_DIR}/dist/dagate.sysusers
    DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d RENAME dagate.conf)
  install(FILES ${CMAKE_SOURCE_DIR}/dist/dagate.logrotate
    DESTINATION ${_etc}/logrotate.d RENAME dagate)
  install(FILES ${CMAKE_SOURCE_DIR}/dist/dagate.conf.packaged
    DESTINATION ${_etc}/dagate RENAME dagate.conf)
  install(FILES ${CMAKE_SOURCE_DIR}/dist/users.packaged
    DESTINATION ${_etc}/dagate RENAME users)
  install(FILES ${_pkg_out}/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
  install(FILES ${CMAKE_SOURCE_DIR}/dist/lintian-overrides
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME dagate)

  # A stripped install (cpack with CPACK_STRIP_FILES, cmake --install
  # --strip) also drops the compiler's .comment section, as dh_strip does.
  if(CMAKE_STRIP)
    install(CODE "
      if(CMAKE_INSTALL_DO_STRIP)
        execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
          \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/dagate\" RESULT_VARIABLE _rc)
        if(NOT _rc EQUAL 0)
          message(FATAL_ERROR \"strip of bin/dagate failed\")
        endif()
      endif()")
  endif()

  # Every file under /etc is a conffile: dpkg keeps the administrator's
  # changes on upgrade.
  file(WRITE ${_pkg_out}/conffiles
    "/etc/dagate/dagate.conf\n/etc/dagate/users\n/etc/logrotate.d/dagate\n")
endif()

# CPack: the .deb

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dagate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "dagate")
set(CPACK_PACKAGE_CONTACT "${DAGATE_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Salesforce Delegated Authentication gateway")
set(CPACK_PACKAGE_DESCRIPTION
"dagate answers the SOAP Authenticate calls a Salesforce org sends to its
Delegated Gateway URL. It validates each message strictly, maps the
username, routes it to a backend (a crypt(3) users file, LDAP or Active
Directory, SMTP AUTH, an HTTP login, another Delegated Authentication
service) and answers true, false or a fault within a fixed deadline. It
also issues one-time tokens for impersonation by trusted requesters.

Every decision leaves one audit line; passwords are never logged. The
package runs dagate as the unprivileged dagate user under a hardened
systemd unit.")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DAGATE_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_RELEASE ${DAGATE_DEB_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from dpkg-shlibdeps (dpkg-dev); adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# python3 for /usr/share/dagate/salesforce-ranges.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, python3")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
if(DAGATE_INSTALL_SYSTEM_FILES)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_pkg_out}/conffiles
    ${CMAKE_SOURCE_DIR}/dist/debian/postinst
    ${CMAKE_SOURCE_DIR}/dist/debian/prerm
    ${CMAKE_SOURCE_DIR}/dist/debian/postrm)
endif()
# `make package_source` must not sweep up build trees or the token store.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/var/" "__pycache__")

include(CPack)
