# cnn-cl.bash: bash completion of cnn-cl, installed as
# share/bash-completion/completions/cnn-cl. tests/test_docs.sh holds its
# lists against every command's --help.

# Offers the words of $1 that complete $cur.
_cnn_cl_offer()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_cnn_cl()
{
    local cur prev words cword
    _init_completion || return

    local commands="train eval predict export devices bench plot"
    if [ "$cword" -eq 1 ]; then
        _cnn_cl_offer "$commands --help --version"
        return
    fi

    case $prev in
        --data)
            _filedir -d
            return ;;
        --model|--resume|--init)
            _filedir '@(safetensors|onnx)'
            return ;;
        --save|--save-best)
            _filedir safetensors
            return ;;
        --log)
            _filedir csv
            return ;;
        --image)
            _filedir '@(pgm|ppm)'
            return ;;
        -o|--output)
            _filedir
            return ;;
        --optimizer)
            _cnn_cl_offer "adam adamw sgd rmsprop"
            return ;;
        --gemm)
            _cnn_cl_offer "auto clblast kernel"
            return ;;
        --lr-schedule)
            _cnn_cl_offer "constant step: cosine onecycle"
            return ;;
        --tta)
            _cnn_cl_offer "flip"
            return ;;
        --augment)
            _cnn_cl_offer "flip crop: cutout: flip,crop:"
            return ;;
        --device|--epochs|--batch|--lr|--warmup|--label-smoothing|--momentum|\
        --weight-decay|--eps|--rho|--clip-norm|--seed|--arch|--limit|\
        --validation-split|--early-stopping|--first|--steps|--input|--classes|\
        --variants|--title)
            return ;;
    esac

    local options
    case ${words[1]} in
        train)
            options="--device --data --epochs --batch --lr --lr-schedule --warmup
                --label-smoothing --optimizer --momentum --nesterov --weight-decay --eps
                --rho --clip-norm --augment --seed --arch --save --resume --init --log
                --limit --validation-split --early-stopping --save-best --normalize
                --gemm --allow-different-arithmetic --quiet -q --help -h" ;;
        eval)
            options="--model --device --data --tta --help -h" ;;
        predict)
            options="--model --device --data --first --image --probabilities --help -h" ;;
        export)
            options="--model -o --output --help -h" ;;
        devices)
            options="--help -h" ;;
        bench)
            options="--device --batch --steps --arch --input --classes --model --gemm
                --json --retune --variants --peak --help -h" ;;
        plot)
            options="-o --output --title --help -h"
            if [[ $cur != -* ]]; then
                _filedir csv
                return
            fi ;;
        *)
            return ;;
    esac
    _cnn_cl_offer "$options"
}

complete -F _cnn_cl cnn-cl
