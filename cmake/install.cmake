# cmake --install: headers, libloom.so, the tools, a CMake package (find_package(loom) ->
# loom::loom) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS loom EXPORT loomTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/loom/loom.h include/loom/loom.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/loom)
foreach(tool loomrun loom_tool)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
install(DIRECTORY data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/loom OPTIONAL)

install(EXPORT loomTargets NAMESPACE loom:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loom)
configure_package_config_file(cmake/loomConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/loomConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loom)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/loomConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/loomConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/loomConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loom)

# Relative to the .pc file, so `cmake --install --prefix X` works whatever the configured prefix.
file(RELATIVE_PATH LOOM_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
configure_file(cmake/loom.pc.in ${CMAKE_CURRENT_BINARY_DIR}/loom.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/loom.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
