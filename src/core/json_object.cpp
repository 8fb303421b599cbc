#include "bemi/json_object.hpp"

#include <stdexcept>

namespace bemi {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_space(std::string_view s, size_t i) {
    while (i < s.size() && is_space(s[i]))
        ++i;
    return i;
}

[[noreturn]] void malformed() { throw std::invalid_argument("not a JSON object"); }

// s[i] is an opening quote; returns the index after the closing one.
size_t skip_string(std::string_view s, size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '\\')
            ++i;
        else if (s[i] == '"')
            return i + 1;
    }
    malformed();
}

// Returns the index just after the value starting at s[i].
size_t skip_value(std::string_view s, size_t i) {
    if (i >= s.size())
        malformed();
    if (s[i] == '"')
        return skip_string(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < s.size(); ++i) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i) - 1;
            } else if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        malformed();
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && !is_space(s[i]))
        ++i;
    return i;
}

void append_utf8(std::string &out, unsigned cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

unsigned hex4(std::string_view s, size_t i) {
    if (i + 4 > s.size())
        malformed();
    unsigned v = 0;
    for (size_t k = i; k < i + 4; ++k) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= static_cast<unsigned>(c - 'A' + 10);
        else
            malformed();
    }
    return v;
}

} // namespace

std::string decode_json_string(std::string_view body) {
    std::string out;
    out.reserve(body.size());
    for (size_t i = 0; i < body.size(); ++i) {
        char c = body[i];
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        if (++i >= body.size())
            malformed();
        switch (body[i]) {
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
            unsigned cp = hex4(body, i + 1);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < body.size() && body.substr(i + 1, 2) == "\\u") {
                unsigned low = hex4(body, i + 3);
                if (low >= 0xDC00 && low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    i += 6;
                }
            }
            append_utf8(out, cp);
            break;
        }
        default: out.push_back(body[i]); break; // \" \\ \/
        }
    }
    return out;
}

std::vector<JsonMember> object_members(std::string_view s) {
    std::vector<JsonMember> members;
    size_t i = skip_space(s, 0);
    if (i >= s.size() || s[i] != '{')
        malformed();
    i = skip_space(s, i + 1);
    if (i < s.size() && s[i] == '}')
        return members;
    while (true) {
        if (i >= s.size() || s[i] != '"')
            malformed();
        size_t key_end = skip_string(s, i);
        JsonMember m;
        m.raw_key = s.substr(i, key_end - i);
        m.key = decode_json_string(s.substr(i + 1, key_end - i - 2));
        i = skip_space(s, key_end);
        if (i >= s.size() || s[i] != ':')
            malformed();
        i = skip_space(s, i + 1);
        size_t value_end = skip_value(s, i);
        m.raw_value = s.substr(i, value_end - i);
        members.push_back(std::move(m));
        i = skip_space(s, value_end);
        if (i < s.size() && s[i] == ',') {
            i = skip_space(s, i + 1);
            continue;
        }
        if (i < s.size() && s[i] == '}')
            return members;
        malformed();
    }
}

} // namespace bemi
