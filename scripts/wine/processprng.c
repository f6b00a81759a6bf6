/*
 * Test-only stand-in for bcryptprimitives.dll under Wine 8.
 *
 * Rust's standard library (1.78 and later) imports ProcessPrng from bcryptprimitives.dll, which
 * Windows 10 and 11 have and Wine 8 lacks: without it a Rust program exits at once with code 53.
 * This DLL exports ProcessPrng and fills the buffer from RtlGenRandom (SystemFunction036), which
 * Wine implements. scripts/wine/prefix.sh builds it with mingw and copies it into each test Wine
 * prefix's system32. It is never shipped: real Windows has its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
