// The record's "fallback" entries: values written in a substitute form because their exact
// form could not be produced safely or cannot be stored in jsonb (docs/record-format.md).
#pragma once

#include <cstdint>

namespace bemi {

// Which part of the record holds the value.
enum class FallbackImage : uint8_t {
    Before,
    After,
    PrimaryKey,
    PreviousPrimaryKey,
};

// Why the value is not what to_jsonb() would give.
enum class FallbackReason : uint8_t {
    UntrustedCast, // a json cast a non-superuser controls: never run, the type's text instead
    CastFailed,    // a trusted json cast raised an error: the type's text instead
    JsonNotJsonb,  // JSON that jsonb refuses (a number beyond numeric, \u0000, a lone
                   // surrogate escape): the JSON text as a string
    InvalidText,   // bytes that are not UTF-8, or a NUL: "\\x" and the bytes in hex
    TooLarge,      // the value would take the record beyond what jsonb can hold: null
};

// The one name table of each: the names are the record format's.
inline const char *fallback_image_name(FallbackImage image) {
    switch (image) {
    case FallbackImage::Before:
        return "before";
    case FallbackImage::After:
        return "after";
    case FallbackImage::PrimaryKey:
        return "primary_key";
    case FallbackImage::PreviousPrimaryKey:
        return "previous_primary_key";
    }
    return "unknown";
}

inline const char *fallback_reason_name(FallbackReason reason) {
    switch (reason) {
    case FallbackReason::UntrustedCast:
        return "untrusted_cast";
    case FallbackReason::CastFailed:
        return "cast_failed";
    case FallbackReason::JsonNotJsonb:
        return "json_not_jsonb";
    case FallbackReason::InvalidText:
        return "invalid_text";
    case FallbackReason::TooLarge:
        return "too_large";
    }
    return "unknown";
}

} // namespace bemi
