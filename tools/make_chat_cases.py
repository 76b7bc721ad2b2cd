#!/usr/bin/env python3
"""Reference cases for llorch's chat template interpreter, from Python's Jinja.

    python3 tools/make_chat_cases.py [SHARED_DIR] > tools/chat_cases.json

Renders chat templates the way transformers' apply_chat_template does
(jinja2's ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and
loopcontrols; its own tojson filter; raise_exception and strftime_now as
globals; messages, add_generation_prompt, tools=None, documents=None and the
tokenizer's special tokens as variables) and writes
    {"templates": {NAME: SOURCE}, "cases": [{"template", "vars", "text" | "error"}]}
"error" holds jinja2's message where rendering fails. The templates are the
ones of SHARED_DIR/{tokenizers,models}/*/tokenizer_config.json and those of
the model families below, written out here, plus short templates that each
exercise one part of Jinja. Needs only python3-jinja2.
"""
import glob
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(Extension):
    """transformers' {% generation %} tag (it marks assistant text): renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, "jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


# Mistral-7B-Instruct-v0.1 / v0.2
MISTRAL_V1 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# Mistral-7B-Instruct-v0.3 style: the system message joins the last user turn; tools
MISTRAL_V3 = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# SmolLM2-Instruct (ChatML with a default system message)
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen2.5-Instruct (ChatML, default system message, tools)
QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# Llama-3.2-Instruct (date via date_string or strftime_now, tools)
LLAMA32 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# Llama-2-chat
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# Short templates, each for one part of Jinja (rendered with FEATURE_VARS).
FEATURES = [
    "{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}",
    "{% for i in range(3) %}{% if i == 1 %}{% set d = 5 %}{% endif %}{{ d }}{% endfor %}",
    "a  \n  {% if true %}\n  x\n  {% endif %}\n  b\n",
    "a  {# c #}\nb\n  {# c #}\nc",
    "{{ 'x' }}\n  {{ 'y' }}\n",
    "  {% if true %}x{% endif %}\n\n",
    "a\x0bb\x85c\u2028d\r\ne\rf\r\n",
    "{{ '\\d\\n\\x41\\u00e9\\t\\'\\\"\\101' }}|{{ \"it's\" }}|{{ 'a' 'b' }}",
    "{{ none.x }}|{{ 'a'.x }}|{{ [1][5] }}|{{ d.missing }}|{{ d['missing'] }}",
    "{{ u is sequence }} {{ u is iterable }} {{ u|length }} {{ 'a' in u }} {{ u == u }} {{ u is defined }}",
    "{{ 1 + True }} {{ 1 == 1.0 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 2 ** -1 }} {{ 1/2 }} {{ 10/5 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}",
    "{{ [1,'a',none,True,1.5,{'k':(1,2)},(3,),()] }} {{ {'a': [1, 'it\\'s', \"q\\\"\"]} }}",
    "{{ 1e20 }} {{ 1.5e-5 }} {{ 123456789012345678.0 }} {{ 0.1+0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ -0.0 }} {{ 2.5e-300 }}",
    "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ [1, [], {}, 'x']|tojson(indent=0) }}|{{ d|tojson(separators=(',', ':')) }}",
    "{{ 'é\u2028\x01\\\\\"\\n'|tojson }} {{ [1.0, 2.5, -3, true, none]|tojson }}",
    "{% for a, b in {'x': 1, 'y': 2}.items() %}{{ a }}={{ b }};{% endfor %}",
    "{% macro f(a, b='q') %}[{{ a }}{{ b }}{{ top }}]{% endmacro %}{% set top = 't' %}{{ f(1) }}{{ f(1, b=2) }}{{ f(b=3, a=4) }}",
    "{% macro f() %}{{ x }}{% endmacro %}{% for x in [1] %}{{ f() }}{% endfor %}",
    "{{ 'abcdé'[::-1] }} {{ [1,2,3][-1] }} {{ 'abc'[1:] }} {{ [1,2,3,4,5][1:4:2] }} {{ [1,2,3][:-1] }} {{ 'héllo'[1:3] }} {{ [1,2,3][5:] }} {{ [1,2,3][::-2] }}",
    "{% for m in [1,2] %}{{ loop.previtem }}|{{ loop.nextitem }}|{{ loop.revindex }}|{{ loop.revindex0 }}|{{ loop.first }}|{{ loop.last }};{% endfor %}",
    "{% for m in [1,2,3] if m > 1 %}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}|{% for m in [] %}x{% else %}empty{% endfor %}",
    "{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{{ 'ab'|upper }}{{ 'hello world-x(y'|title }}{{ 'hello world-x(y'.title() }}{{ 'aB'|capitalize }}{{ 'AbC'|lower }}",
    "{{ 3|round }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ -3|abs }} {{ -2.5|abs }}",
    "{% set x %}  hi {{ 1 + 1 }} {% endset %}[{{ x }}]",
    "{{ 'a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ' x y z '.split(none, 1) }}",
    "{{ u|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ none|default('z') }}|{{ u|d }}",
    "{{ 'a' if false }}|{{ ('a' if false) is defined }}|{{ 1 if u is defined else 2 }}|{{ not 1 == 2 }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}",
    "{% if true %}  \n x {%- endif %}|{%- if true -%}\n  a  \n{%- endif -%}\n|{{- ' b ' -}}  |",
    "{{ (1,) }} {{ () }} {{ {'a': 1}.items()|list }} {{ {'a': 1}|items|list }} {{ d.keys()|list }} {{ d.values()|list }}",
    "{% set ns = namespace(a=1, s='') %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.a }} {{ ns.s }}",
    "{{ 'x' is string }} {{ 1 is number }} {{ True is number }} {{ True is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ 'a' is sequence }} {{ none is none }} {{ true is boolean }} {{ 1 is boolean }}",
    "{{ 4 is divisibleby 2 }} {{ 3 is odd }} {{ 3 is even }} {{ 'a' is in 'abc' }} {{ 2 is in [1, 2] }} {{ 'a' is eq 'a' }} {{ 1 is ne 1 }} {{ 2 is gt 1 }} {{ false is sameas false }} {{ 'abc' is lower }} {{ 'AB' is upper }}",
    "{{ [3,1] | map('string') | join('-') }} {{ [{'a':1},{'a':2}] | map(attribute='a') | list }} {{ [1,2,3]|select('odd')|list }} {{ [1,2,3]|reject('odd')|list }}",
    "{{ [{'a':1},{'b':2}] | selectattr('a') | list }} {{ [{'a':1},{'a':2}] | selectattr('a', 'equalto', 2) | list }} {{ [{'a':1},{'a':2}] | rejectattr('a', 'eq', 2) | list }}",
    "{{ 'ab' * 2 }} {{ 2 * [1] }} {{ [1] + [2] }} {{ 'a' ~ none ~ 1 ~ u ~ 1.5 ~ true }} {{ -(3) }} {{ +2 }} {{ 2 ** 10 }} {{ 2.0 ** 3 }}",
    "{{ 'A'.lower() }}|{{ '  a  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n a \\n'.lstrip() }}|{{ 'ab\\n\\n'.rstrip('\\n') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aaa'.replace('a', 'b', 2) }}",
    "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d['a'] }} {{ d.a }} {{ 'a' in d }} {{ 'zz' not in d }}",
    "{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ [1,2]|first }}|{{ [1,2]|last }}|{{ 'abc'|first }}|{{ []|first }}|{{ 'hello'|length }}|{{ 'héllo'|count }}|{{ d|length }}",
    "{{ '12'|int }} {{ '1.9'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 2.7|int }} {{ '2.5'|float }} {{ 3|float }} {{ true|int }} {{ ' 4 '|int }}",
    "{{ [1, 2]|list }} {{ 'ab'|list }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ 12|string ~ 'x' }} {{ 'a-b-a'|replace('a', 'c') }} {{ 'a\\nb\\n\\nc'|indent(2) }} {{ 'a\\nb'|indent(first=true) }}",
    "{{ ', '.join(['a', 'b']) }} {{ [1, 'x']|join(',') }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.count('bc') }} {{ range(2, 10, 3)|list }} {{ range(3)|list }} {{ dict(a=1, b='x') }}",
    "{% set x = 1 %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}other{% endif %}|{% if x == 3 %}a{% elif x == 1 %}b{% endif %}",
    "{% for m in messages %}{% generation %}<{{ m.role }}>{% endgeneration %}{% endfor %}",
    "{% set x = 1 %}{% generation %}{% set x = 2 %}{{ x }}{% endgeneration %}{{ x }}",
    "{{ messages[0].content if messages else 'none' }} {{ messages|length }} {{ messages[-1]['role'] }} {{ messages|selectattr('role', 'equalto', 'user')|list|length }}",
    "{%+ if true %}keep{% endif +%}\n  {%+ if true %}x{% endif %}",
    "{{ 1 and 2 }} {{ 0 or 'b' }} {{ none or [] }} {{ 'a' and none }} {{ not none }} {{ u or 'z' }}",
    "{{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2.5 >= 2 }} {{ 'b' > 'abc' }} {{ (1, 2) == (1, 2) }} {{ [1] == (1,) }} {{ {'a': 1} == {'a': 1} }}",
    "{% for a in [[1, 2], [3, 4]] %}{% for b in a %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }};{% endfor %}",
    "{{ 'a' ~ 1.0 }} {% for k in d %}{{ k }}{% endfor %} {{ messages[0]['content'][:1] }} {{ [1, 2] + [3] }} {{ -1 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 1 in [1] == true }}",
    "{{ 0.5|round }} {{ 1.5|round }} {{ 12345.6789|round(-2) }} {{ 10 / 4 }} {{ 1e3 }} {{ d.b[0] }} {{ d['b'][1] is none }} {{ 'abc'|replace('b', '') }}",
    "{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{% macro twice(x) %}{{ tag(x) }}{{ tag(x, body=x|upper) }}{% endmacro %}{{ twice('p') }}",
    "{% for m in messages %}{{ loop.index0 is even }}{{ m.role|capitalize }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{%- for m in messages -%}\n  {{- m.role -}}\n{%- endfor -%}\n{% if x is defined and x %}\n    yes\n{% endif %}",
    "{{ '%s: %d%%' % ('a', 5) }} {{ 'x=%s' % x }} {{ '%r|%i' % ('q', 2.9) }} {{ '%s-%s'|format(1, none) }} {{ '%s' % [1] }}",
    "{{ '%s %s' % ('a',) }}",
    "{{ [{'1a': 5}] | map(attribute='1a') | list }} {{ [[7, 8]] | map(attribute='1') | list }} {{ [{'a': [1, 2]}] | map(attribute='a.0') | list }} {{ [[1, 2]] | map('join', '+') | list }}",
    "{{ x }}",
    "{{ u.x }}",
    "{{ u + 'a' }}",
    "{{ 'a' + 1 }}",
    "{{ 'a' < 1 }}",
    "{% for x in none %}{% endfor %}",
    "{{ 1 // 0 }}",
    "{{ raise_exception('Conversation roles must alternate!') }}",
    "{% if messages[0].role != 'system' %}{{ raise_exception('need a system message: ' ~ messages[0].role) }}{% endif %}",
]

FEATURE_VARS = {
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    "d": {"a": 1, "b": [True, None], "c": "é"},
    "x": 42,
    "add_generation_prompt": True,
}

CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system_user": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Write a haiku about the sea."}],
    "multi": [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Quatre."},
        {"role": "user", "content": "And 3+3?"},
    ],
    "no_system_multi": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": " Hello! How can I help? "},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "unicode": [{"role": "user", "content": "  \u00dcn\u00efc\u00f6d\u00e9 and\nnew lines \u4e2d\u6587 \U0001f600 \n"}],
    "thinking": [
        {"role": "user", "content": "What is 1+1?"},
        {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n2"},
        {"role": "user", "content": "And 2+2?"},
    ],
    "not_alternating": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
}

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city, \u00b0C",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "abc123def", "type": "function",
                                                         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "22", "tool_call_id": "abc123def"},
]

LLAMA_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
LLAMA3_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
CHATML_TOKENS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}


def special_tokens(cfg):
    """transformers' special_tokens_map: the tokens set in tokenizer_config.json."""
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str):
            out[k] = v
    extra = cfg.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [t["content"] if isinstance(t, dict) else t for t in extra]
    return out


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
    env = make_env()
    templates, cases = {}, []

    def render(name, variables):
        case = {"template": name, "vars": variables}
        try:
            case["text"] = env.from_string(templates[name]).render(**variables)
        except jinja2.exceptions.TemplateError as e:
            case["error"] = str(e)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            case["error"] = "%s: %s" % (type(e).__name__, e)
        cases.append(case)

    def chat(name, source, tokens, convs, extra=None):
        templates[name] = source
        for conv in convs:
            v = dict(tokens)
            v.update({"messages": CONVERSATIONS[conv], "add_generation_prompt": True, "tools": None, "documents": None})
            v.update(extra or {})
            render(name, v)

    seen = {}
    for path in sorted(glob.glob(os.path.join(shared, "tokenizers/*/tokenizer_config.json")) +
                       glob.glob(os.path.join(shared, "models/*/tokenizer_config.json"))):
        cfg = json.load(open(path))
        src = cfg.get("chat_template")
        if not isinstance(src, str) or src in seen:
            continue
        name = "shared:" + os.path.relpath(path, shared)
        seen[src] = name
        chat(name, src, special_tokens(cfg), ["user", "system_user", "multi", "no_system_multi", "unicode", "thinking"])
        if "enable_thinking" in src:
            chat(name, src, special_tokens(cfg), ["multi"], {"enable_thinking": False})
            chat(name, src, special_tokens(cfg), ["user"], {"add_generation_prompt": False})

    all_convs = ["user", "system_user", "multi", "no_system_multi", "unicode", "not_alternating"]
    chat("mistral-v0.1", MISTRAL_V1, LLAMA_TOKENS, ["user", "no_system_multi", "unicode", "multi", "not_alternating"])
    chat("mistral-v0.3", MISTRAL_V3, LLAMA_TOKENS, all_convs)
    chat("smollm2", SMOLLM2, {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                              "pad_token": "<|im_end|>"}, all_convs)
    chat("qwen2.5", QWEN25, CHATML_TOKENS, all_convs)
    chat("llama3.2", LLAMA32, LLAMA3_TOKENS, all_convs, {"date_string": "29 Nov 2026"})
    chat("llama2-chat", LLAMA2, LLAMA_TOKENS, all_convs)
    # tools: tojson of nested dicts, tool calls and results
    for name, tokens, extra in (("qwen2.5", CHATML_TOKENS, {}), ("llama3.2", LLAMA3_TOKENS, {"date_string": "1 Jan 2025"}),
                                ("mistral-v0.3", LLAMA_TOKENS, {})):
        v = dict(tokens)
        v.update({"messages": TOOL_CONVERSATION, "add_generation_prompt": True, "tools": TOOLS, "documents": None})
        v.update(extra)
        render(name, v)
    for i, src in enumerate(FEATURES):
        name = "feature%02d" % i
        templates[name] = src
        render(name, dict(FEATURE_VARS))
    json.dump({"templates": templates, "cases": cases}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
