# Turns a file into a C array (build step): cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from ${IN}: do not edit */\n#include <stddef.h>\n"
     "const char ${NAME}[] = {${bytes}0};\n"
     "const size_t ${NAME}_len = sizeof(${NAME}) - 1;\n")
