/*
 * money.h - amounts of money (cost_usd) as exact integers of nano-units (10^-9 of a dollar), so
 * the run views can add step costs without floating-point drift. Pure functions.
 */
#ifndef FG_EVENTS_MONEY_H
#define FG_EVENTS_MONEY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Reads a decimal the catalog accepts (a JSON number, or a string such as "0.42" or "-1.5").
 * Digits past the ninth decimal are rounded half away from zero. Returns false, leaving *nano
 * alone, for anything else or an amount beyond ±9.2 × 10^9.
 */
bool fg_money_parse(const json_t *v, int64_t *nano);

/** Writes nano as a decimal string with at least two decimals ("0.42", "12.00", "0.000001"). */
void fg_money_format(int64_t nano, char *buf, size_t cap);

#endif
