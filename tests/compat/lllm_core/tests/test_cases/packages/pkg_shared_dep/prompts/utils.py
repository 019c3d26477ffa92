from lllm import Prompt

helper = Prompt(path="helper", prompt="You are a helpful assistant for {task}.")
