#!/usr/bin/env python3
"""Write the params presets of the paper's appendix tables and scaling figures (issue 21): params/table4/, table8/,
table9/, table10/, fig2/, fig4/ and fig5/. Each written file is one complete run that a user can run alone
(`metamath-nb reproduce params/fig2/llama2_7b_ansaug_20k.yaml`) or as a folder; this script is their single template,
so a change of recipe is made here and the files rewritten: `.venv/bin/python scripts/make_presets.py` (then commit them;
`--out DIR` writes them under another folder; tests/test_presets.py checks that params/ holds what the script writes)."""
import sys
from pathlib import Path

from metamath_nb.report_scaling import FIG2_SIZES, FIG5_SIZES, SCALING_MODELS   # the sweeps: one definition, shared with the report

ROOT = Path(__file__).resolve().parent.parent/'params'
GSM_TYPES = ['GSM_AnsAug', 'GSM_Rephrased', 'GSM_SV', 'GSM_FOBAR']
# base model -> (hub id, learning rate, per-GPU batch): the released run.sh / run_mistral.sh settings
MODELS = {'llama2_7b': ('LLaMA-2-7B', 'meta-llama/Llama-2-7b-hf', '2.0e-5', 4),
          'llama2_13b': ('LLaMA-2-13B', 'meta-llama/Llama-2-13b-hf', '2.0e-5', 4),
          'mistral_7b': ('Mistral-7B', 'mistralai/Mistral-7B-v0.1', '5.0e-6', 2),
          'llemma_7b': ('Llemma-7B', 'EleutherAI/llemma_7b', '2.0e-5', 4)}
RFT_FILE = 'rft/rft_u13b.json'   # under the data folder: RFT-U13B (Yuan et al. 2023, OFA-Sys/gsm8k-ScRel), question/answer rows ending '#### N'

def finetune(model, data, types=()):
    "The paper's full fine-tuning recipe (train_math.py + run.sh) for `model` on `data` (a YAML value, or a list of YAML items)"
    _, hub, lr, bs = MODELS[model]
    data = ''.join(f"\n    - {d}" for d in data) if isinstance(data, list) else f" {data}"
    return f"""finetune:
  trainer: full
  base_model: {hub}
  data:{data}
  types: [{', '.join(types)}]
  max_length: 512
  learning_rate: {lr}
  epochs: 3
  global_batch_size: 128          # the paper's batch: sequences per optimizer step over all GPUs
  batch_size: {bs}                   # per GPU; accumulation = 128 / (batch_size x num_processes)
  num_processes: 8                # the paper's 8 x A100 80GB; on N GPUs: --set finetune.num_processes=N
  accelerate_config: fsdp         # FSDP full-shard, bf16 compute over fp32 weights (run.sh: --fsdp "full_shard auto_wrap" --bf16)
                                  # host memory while loading: each process holds the model in fp32 (the plan prints it: --dry-run)
  warmup_ratio: 0.03
  scheduler: cosine
  dtype: bfloat16  # bf16 compute over fp32 master weights (run.sh: --bf16)
  load_in_4bit: false
  save_steps: 500
"""

def evaluate(benchmarks, model=None, tp=1):
    "The released evaluation (vLLM, float16 as the released scripts served float32 checkpoints); `model`: a checkpoint evaluated as it is"
    return ("evaluate:\n  engine: vllm                    # the paper decodes with vLLM; engine: hf works without it (slower)\n"
            + (f"  model: {model}\n" if model else '') + f"  benchmarks: [{', '.join(benchmarks)}]\n"
            + "  vllm:\n    dtype: float16                # the released evaluation's dtype: vLLM 0.1.4's 'auto' served float32 checkpoints in float16\n"
            + "                                  # (vLLM 0.32's 'auto' would pick bfloat16 on current GPUs)\n"
            + (f"    tensor_parallel_size: {tp}           # {tp} GPUs, the released scripts' default: about 129 GiB of float16 weights\n" if tp > 1 else ''))

def write(folder, name, text):
    p = ROOT/folder/f'{name}.yaml'; p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text); return p

def k(n): return f'{n // 1000}k'

# The paper's synthesis set-up: the GSM8K training questions and gpt-3.5-turbo (Table 4's and Figure 4's synthesis)
GSM8K_TEACHER = """data:
  seeds:
    - {name: gsm8k, split: train}   # the 7,473 GSM8K training questions
teacher:
  backend: openai
  model: gpt-3.5-turbo             # the paper's teacher; any OpenAI-compatible server works (base_url, model)
  base_url: https://api.openai.com/v1
  api_key_env: OPENAI_API_KEY
  max_in_flight: 64
  prices: {gpt-3.5-turbo: {prompt: 0.5, completion: 1.5}}   # USD per million tokens: check your provider's price
  budget_usd: 100
"""
CURATE = "curate:\n  allow_missing_test_sets: false\n"

def table4():
    syn = GSM8K_TEACHER + """augment:
  types: [AnsAug]
  samples_per_seed: 4              # four paths per question: its first wrong one goes to ansaug_incorrect.jsonl
""" + CURATE
    head = "# Table 4 (Are incorrect answers helpful?): LLaMA-2-7B fully fine-tuned on 7,473 GSM8K paths, {what}.\n"
    write('table4', 'incorrect', head.format(what="one AnsAug path with a WRONG final answer per training question (paper: 43.6 on GSM8K)")
          + "# The synthesis keeps each question's first path that both verification rules reject apart, in\n"
          "# synthesize/ansaug_incorrect.jsonl (never mixed into the kept rows); finetune.data synthesis_incorrect trains on it.\n"
          "study: table4\nseed: 42\nlabels: {table: table4, row: AnsAug incorrect answers}\nstages: [synthesize, finetune, evaluate]\n"
          + syn + finetune('llama2_7b', 'synthesis_incorrect') + evaluate(['gsm8k']))
    write('table4', 'correct', head.format(what="one verified AnsAug path per training question (paper: 52.2 on GSM8K)")
          + "# The same synthesis as incorrect.yaml (same seed and teacher, sharing the teacher's call cache), its kept AnsAug\n"
          "# rows trimmed to 7,473 by augment.targets (a seeded subset of the verified paths, so not exactly one per question).\n"
          "study: table4\nseed: 42\nlabels: {table: table4, row: AnsAug correct answers}\nstages: [synthesize, finetune, evaluate]\n"
          + syn.replace("  types: [AnsAug]\n", "  types: [AnsAug]\n  targets: {GSM_AnsAug: 7473}\n") + finetune('llama2_7b', 'synthesis') + evaluate(['gsm8k']))
    write('table4', 'sft', head.format(what="the original GSM8K training answers (SFT; paper: 41.6 on GSM8K)")
          + "study: table4\nseed: 42\nlabels: {table: table4, row: SFT on GSM8K}\nstages: [finetune, evaluate]\n"
          + finetune('llama2_7b', 'sft:gsm8k', ['GSM_SFT']) + evaluate(['gsm8k']))

def table8():
    for m in ('llemma_7b', 'mistral_7b'):
        name, hub = MODELS[m][:2]
        write('table8', f'{m}_base', f"# Table 8: {name} as released, without fine-tuning, on GSM8K and MATH.\n"
              "# Departure: we evaluate it with MetaMath's zero-shot Alpaca prompt; the paper prints the base models' own\n"
              "# reported (few-shot) numbers, so a base model's score here can be far below the paper's.\n"
              f"study: table8\nseed: 42\nlabels: {{table: table2, row: {name}}}   # Table 8's rows are Table 2's in paper_numbers.csv\nstages: [evaluate]\n" + evaluate(['gsm8k', 'math'], hub))
        write('table8', f'{m}_metamathqa', f"# Table 8: MetaMath-{name}: {name} fully fine-tuned on all of MetaMathQA (395K), GSM8K and MATH.\n"
              + ("# lr 5e-6 (the released run_mistral.sh); otherwise LLaMA-2-7B's recipe.\n" if m == 'mistral_7b' else
                 "# LLaMA-2-7B's recipe (lr 2e-5); the paper gives no other setting for Llemma.\n")
              + f"study: table8\nseed: 42\nlabels: {{table: table2, row: MetaMath-{name}}}   # Table 8's rows are Table 2's in paper_numbers.csv\nstages: [finetune, evaluate]\n"
              + finetune(m, 'meta-math/MetaMathQA      # or a local copy of MetaMathQA-395K.json') + evaluate(['gsm8k', 'math']))

def table9():
    rows = {'sft': ('GSM8K SFT', 'sft:gsm8k', ['GSM_SFT']), 'ansaug': ('GSM8K AnsAug', 'meta-math/MetaMathQA', ['GSM_AnsAug']),
            'rephrasing': ('GSM8K Rephrasing', 'meta-math/MetaMathQA', ['GSM_Rephrased']),
            'ansaug_rephrasing': ('GSM8K AnsAug+Rephrasing', 'meta-math/MetaMathQA', ['GSM_AnsAug', 'GSM_Rephrased']),
            'all': ('GSM8K AnsAug+Rephrasing+SV+FOBAR', 'meta-math/MetaMathQA', GSM_TYPES)}
    for n, (row, data, types) in rows.items():
        write('table9', f'gsm8k_{n}', f"# Table 9: the Table 3 ablation at 13B: LLaMA-2-13B fully fine-tuned on {row[6:]} (GSM8K part of MetaMathQA).\n"
              f"study: table9\nseed: 42\nlabels: {{table: table9, row: \"{row}\"}}\nstages: [finetune, evaluate]\n"
              + finetune('llama2_13b', data, types) + evaluate(['gsm8k', 'math']))

def table10():
    head = ("# Table 10: zero-shot exact match on DROP's questions with a numeric answer (the validation split, numeric answers only),\n"
            "# MetaMath's Alpaca prompt with the passage and question as the instruction; {what}\n")
    for size, hubs in {'7b': ('WizardLM/WizardMath-7B-V1.0', 'meta-math/MetaMath-7B-V1.0'), '13b': ('WizardLM/WizardMath-13B-V1.0', 'meta-math/MetaMath-13B-V1.0'),
                       '70b': ('WizardLM/WizardMath-70B-V1.0', 'meta-math/MetaMath-70B-V1.0')}.items():
        for fam, hub in zip(('WizardMath', 'MetaMath'), hubs):
            write('table10', f'{fam.lower()}_{size}', head.format(what=f"the released {fam}-{size.upper()} checkpoint.\n")
                  + ("# GSM8K-Backward too, for Figure 6 (forward vs backward reasoning of the 7B models).\n" if size == '7b' else '')
                  + f"study: table10\nseed: 42\nlabels: {{table: table10, row: {fam}-{size.upper()}}}\nstages: [evaluate]\n"
                  + evaluate(['drop', 'gsm8k', 'gsm8k_backward'] if size == '7b' else ['drop'], hub, tp=8 if size == '70b' else 1))
    write('table10', 'sft_7b', head.format(what="LLaMA-2-7B fine-tuned on GSM8K's training answers (SFT).\n")
          + "study: table10\nseed: 42\nlabels: {table: table10, row: SFT-7B}\nstages: [finetune, evaluate]\n"
          + finetune('llama2_7b', 'sft:gsm8k', ['GSM_SFT']) + evaluate(['drop', 'gsm8k', 'gsm8k_backward']))
    write('table10', 'rft_7b', head.format(what=f"LLaMA-2-7B fine-tuned on RFT's released data (a local file, {RFT_FILE}).\n")
          + "study: table10\nseed: 42\nlabels: {table: table10, row: RFT-7B}\nstages: [finetune, evaluate]\n"
          + finetune('llama2_7b', f"{{source: {RFT_FILE}, answer_format: gsm8k, default_type: GSM_RFT}}") + evaluate(['drop', 'gsm8k', 'gsm8k_backward']))

def fig4():
    "Figure 4's accuracy half (and its diversity half in ansaug.yaml): LLaMA-2-7B on 80K AnsAug rows, then 20K of each augmentation added"
    base = "{source: meta-math/MetaMathQA, types: [GSM_AnsAug]}   # the base: MetaMathQA's 80K GSM8K AnsAug rows, all of them"
    head = ("# Figure 4 (diversity gain against accuracy gain): LLaMA-2-7B fully fine-tuned on {what}, evaluated on GSM8K.\n"
            "# The accuracy gain of an augmentation is this run's GSM8K accuracy minus the base run's (params/fig4/base.yaml);\n"
            "# the report pairs them through labels {{table: figure4, row: ...}}. Paper: base 59.6, gains {paper}.\n"
            "# Written by scripts/make_presets.py: edit the script, not this file.\n")
    paper = "AnsAug +0.1, Rephrasing +0.4, FOBAR +2.3, SV +2.6 (Pearson r 0.972 with the diversity gains)"
    write('fig4', 'base', head.format(what="MetaMathQA's 80K GSM8K AnsAug rows alone (the base)", paper=paper)
          + "study: fig4\nseed: 42\nlabels: {table: figure4, row: base}\nstages: [finetune, evaluate]\n"
          + finetune('llama2_7b', [base]) + evaluate(['gsm8k']))
    for aug, t in (('Rephrasing', 'GSM_Rephrased'), ('SV', 'GSM_SV'), ('FOBAR', 'GSM_FOBAR')):
        write('fig4', aug.lower(), head.format(what=f"the base's 80K AnsAug rows plus 20K of MetaMathQA's {t} rows", paper=paper)
              + "# The 20K are a seeded subset (seed 42) of the type's rows in file order: the same rows that ansaug.yaml's diversity\n"
              "# stage measures (metamath_nb.data.seeded_subset draws both; tests/test_presets.py checks it).\n"
              + f"study: fig4\nseed: 42\nlabels: {{table: figure4, row: {aug}}}\nstages: [finetune, evaluate]\n"
              + finetune('llama2_7b', [base, f"{{source: meta-math/MetaMathQA, types: [{t}], limit: 20000}}"])
              + evaluate(['gsm8k']))
    write('fig4', 'ansaug', head.format(what="the base's 80K AnsAug rows plus 20K NEW AnsAug paths that this run synthesizes", paper=paper)
          + "# MetaMathQA holds no AnsAug rows beyond the base's 80K, so the added 20K come from the teacher (the paper's\n"
          "# gpt-3.5-turbo: new sampled chains of thought on the 7,473 GSM8K training questions, kept when the answer is right).\n"
          "# Its diversity stage measures Figure 4's other half for all four augmentations at once: the gain of 20K rows of\n"
          "# each type against the 80K AnsAug base, embedded by text-embedding-ada-002 as in the paper (one run, so the\n"
          "# report's correlation pairs all four with the accuracy gains of the fig4 runs).\n"
          "study: fig4\nseed: 42\nlabels: {table: figure4, row: AnsAug}\nstages: [synthesize, finetune, evaluate, diversity]\n"
          + GSM8K_TEACHER
          + "augment:\n  types: [AnsAug]\n  targets: {GSM_AnsAug: 20000}   # 20K new verified paths (sampling goes on in rounds until met)\n"
          "  samples_per_seed: 4\n  n_shots: 8\n  temperature: 0.7\n  max_tokens: 512\n  max_rounds: 8\n"
          + CURATE
          + finetune('llama2_7b', [base, "synthesis                     # this run's 20K new AnsAug rows"])
          + evaluate(['gsm8k'])
          + "diversity:\n  embedder:\n    backend: openai\n    model: text-embedding-ada-002   # the paper's embedder (1,536 dimensions)\n"
          "    api_key_env: OPENAI_API_KEY\n    batch_size: 512\n"
          "  base: ['metamathqa:GSM_AnsAug']    # the 80K base\n"
          "  new: ['synthesis:GSM_AnsAug', 'metamathqa:GSM_Rephrased', 'metamathqa:GSM_SV', 'metamathqa:GSM_FOBAR']\n"
          "  new_limit: 20000                 # 20K per type: the rows the fig4 fine-tunes add (same seed, same draw)\n")

FULL = {'AnsAug': 80000, 'MetaMathQA': 240000}   # these points take every row of their types (no limit): Table 1's counts are rounded

def fig2():
    for m in [m for m, v in MODELS.items() if v[0] in SCALING_MODELS]:
        name = MODELS[m][0]
        for label, sizes in FIG2_SIZES.items():
            types = ['GSM_AnsAug'] if label == 'AnsAug' else GSM_TYPES
            for n in sizes:
                write('fig2', f'{m}_{label.lower()}_{k(n)}', f"# Figure 2 (and Figures 8-10 of the appendix): GSM8K accuracy against data size, AnsAug only vs bootstrapped (this run: {label}).\n"
                      + (f"# {name} fully fine-tuned on all of MetaMathQA's {', '.join(types)} rows (about {n:,}).\n" if n == FULL[label] else
                       f"# {name} fully fine-tuned on a seeded subset of {n:,} rows of MetaMathQA's {', '.join(types)} rows.\n")
                      + "# Written by scripts/make_presets.py: edit the script, not this file.\n"
                      + f"study: fig2\nseed: 42\nlabels: {{figure: fig2, model: {name}, series: {label}, size: '{n}'}}\nstages: [finetune, evaluate]\n"
                      + finetune(m, f"{{source: meta-math/MetaMathQA, types: [{', '.join(types)}]{'' if n == FULL[label] else f', limit: {n}'}}}") + evaluate(['gsm8k']))

def fig5():
    for n in FIG5_SIZES:
        write('fig5', f'llama2_7b_metamathqa_{k(n)}_rft', "# Figure 5: adding RFT's ~47K samples to a MetaMathQA subset lowers GSM8K accuracy (LLaMA-2-7B).\n"
              f"# A seeded subset of {n:,} rows of MetaMathQA's GSM8K part plus every row of RFT's released data ({RFT_FILE} under the\n"
              "# data folder, answers ending '#### N', rewritten as SFT rows are). The curve without RFT is Figure 2's LLaMA-2-7B\n"
              "# MetaMathQA series (params/fig2/llama2_7b_metamathqa_*.yaml: same seed, so the same subset).\n"
              "# Written by scripts/make_presets.py: edit the script, not this file.\n"
              f"study: fig5\nseed: 42\nlabels: {{figure: fig5, model: LLaMA-2-7B, series: MetaMathQA+RFT, size: '{n}'}}\nstages: [finetune, evaluate]\n"
              + finetune('llama2_7b', [f"{{source: meta-math/MetaMathQA, types: [{', '.join(GSM_TYPES)}], limit: {n}}}",
                                       f"{{source: {RFT_FILE}, answer_format: gsm8k, default_type: GSM_RFT}}"])
              + evaluate(['gsm8k']))

FOLDERS = ('table4', 'table8', 'table9', 'table10', 'fig2', 'fig4', 'fig5')

def main(root=None) -> list:
    "Write every preset under `root` (default: params/); the paths written"
    global ROOT
    if root is not None: ROOT = Path(root)
    for make in (table4, table8, table9, table10, fig2, fig4, fig5): make()
    return sorted(p for d in FOLDERS for p in (ROOT/d).glob('*.yaml'))

if __name__ == '__main__':
    out = main(sys.argv[sys.argv.index('--out') + 1] if '--out' in sys.argv else None)
    print(f"{len(out)} presets written under {ROOT}")
