# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Writes the bytes of IN as a C array, so the installed binary needs no data
# file (the WSDL is served from memory).
file(READ "${IN}" _hex HEX)
string(LENGTH "${_hex}" _n)
math(EXPR _len "${_n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n\t" _bytes "${_bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by wsdl/embed.cmake: do not edit. */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {\n\t${_bytes}0x00\n};\n"
  "const size_t ${NAME}_len = ${_len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
